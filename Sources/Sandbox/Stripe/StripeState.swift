/// What the Stripe sandbox keeps: PaymentIntents, transfers and connected accounts.
final class StripeState: Sendable {
    let paymentIntents = RecordStore()
    let transfers = RecordStore()
    let accounts = RecordStore()

    func reset() {
        paymentIntents.reset()
        transfers.reset()
        accounts.reset()
    }

    /// Stripe's test payment methods that always decline, with their decline codes.
    static let decliningPaymentMethods = [
        "pm_card_chargeDeclined": "generic_decline",
        "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
        "pm_card_chargeDeclinedLostCard": "lost_card",
        "pm_card_chargeDeclinedExpiredCard": "expired_card",
    ]

    static let apiVersion = "2024-06-20"

    /// A Stripe event around `object`, as webhooks carry it.
    static func event(type: String, object: SandboxJSON, idempotencyKey: String?) -> SandboxJSON {
        ["id": .string(SandboxIDs.stripe("evt")), "object": "event", "api_version": .string(apiVersion),
         "created": .int(SandboxIDs.now), "livemode": false, "pending_webhooks": 1, "type": .string(type),
         "request": ["id": .string(SandboxIDs.stripe("req")), "idempotency_key": idempotencyKey.json],
         "data": ["object": object]]
    }
}
