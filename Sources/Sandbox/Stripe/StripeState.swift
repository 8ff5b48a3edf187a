import Synchronization

/// What the Stripe sandbox keeps: PaymentIntents, transfers and connected accounts, and the
/// platform's available balance where a test set one.
final class StripeState: Sendable {
    let paymentIntents = RecordStore()
    let transfers = RecordStore()
    let accounts = RecordStore()
    /// The platform's available balance by lower-case currency, in Stripe's units; a currency not
    /// here has no limit (`POST /_sandbox/stripe/balance` sets one).
    private let available = Mutex<[String: Int]>([:])

    func reset() {
        paymentIntents.reset()
        transfers.reset()
        accounts.reset()
        available.withLock { $0 = [:] }
    }

    /// Sets (or, with nil, lifts) the platform's available balance in `currency`.
    func setAvailable(_ amount: Int?, currency: String) {
        available.withLock { $0[currency.lowercased()] = amount }
    }

    /// Takes `amount` from the available balance in `currency` for a transfer: false, taking
    /// nothing, when the balance there is set and short (Stripe's `balance_insufficient`).
    func takeForTransfer(_ amount: Int, currency: String) -> Bool {
        available.withLock { balances in
            guard let balance = balances[currency.lowercased()] else { return true }
            guard balance >= amount else { return false }
            balances[currency.lowercased()] = balance - amount
            return true
        }
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
