import Foundation

/// Everything the sandbox holds for the life of the process: each service's data, the call
/// counts, the scripts, the idempotency keys and the webhook sender. `reset()` empties it all.
final class SandboxWorld: Sendable {
    let configuration: SandboxConfiguration
    let calls = CallLog()
    let scripting = Scripting()
    let idempotency = IdempotencyStore()
    let endpoints = EndpointList()
    let credentials: CredentialCheck
    let webhooks: WebhookSender
    let stripe = StripeState()
    let medusa = MedusaState()
    let payload = PayloadState()
    let fleetbase = FleetbaseState()
    let erpnext = ERPNextState()

    init(configuration: SandboxConfiguration, webhooks: WebhookSender) {
        self.configuration = configuration
        self.credentials = CredentialCheck(expected: configuration.credentials)
        self.webhooks = webhooks
    }

    /// The ids each service holds, oldest first: `{"stripe": {"payment_intents": [...]}, …}`.
    var stateJSON: SandboxJSON {
        func ids(_ store: RecordStore, key: String = "id") -> SandboxJSON {
            .array(store.all.map { $0[key] ?? .null })
        }
        return ["stripe": ["payment_intents": ids(stripe.paymentIntents), "transfers": ids(stripe.transfers),
                           "accounts": ids(stripe.accounts)],
                "medusa": ["products": ids(medusa.products), "orders": ids(medusa.orders)],
                "fleetbase": ["orders": ids(fleetbase.orders)],
                "erpnext": ["documents": ids(erpnext.documents, key: "name")]]
    }

    func reset() {
        calls.reset()
        scripting.reset()
        idempotency.reset()
        webhooks.reset()
        stripe.reset()
        medusa.reset()
        payload.reset()
        fleetbase.reset()
        erpnext.reset()
    }
}
