import Foundation

/// How a tenant chases a failed invoice: when each retry comes (counted from the first failed
/// attempt) and what the subscription becomes after the last one. From
/// `tenants.settings.billing.dunning`:
///
/// ```json
/// {"billing": {"dunning": {"retry_hours": [24, 72, 120], "final_action": "unpaid"}}}
/// ```
/// (`retry_days` may be given instead of `retry_hours`). Missing settings take ``standard``.
public struct DunningPolicy: Sendable, Equatable {
    /// What the subscription becomes when the last attempt has failed.
    public enum FinalAction: String, Sendable, CaseIterable {
        /// `canceled`; its invoice is `uncollectible`.
        case cancel
        /// `unpaid` (kept, not charged again until paid another way); its invoice is `uncollectible`.
        case unpaid
        /// Stays `past_due`; its invoice stays `open`, with no attempt left.
        case pastDue = "past_due"
    }

    /// Seconds after the first failure at which retry k (k = 1, 2, …) is due.
    public var retryOffsets: [TimeInterval]
    public var finalAction: FinalAction

    public init(retryOffsets: [TimeInterval], finalAction: FinalAction) {
        self.retryOffsets = retryOffsets
        self.finalAction = finalAction
    }

    /// Like Stripe's recommended default for Smart Retries (8 tries within 2 weeks): the first
    /// attempt, then retries 1, 2, 3, 5, 7, 10 and 14 days after it failed; then the subscription
    /// is canceled.
    public static let standard = DunningPolicy(retryOffsets: [1, 2, 3, 5, 7, 10, 14].map { Double($0) * 86_400 },
                                               finalAction: .cancel)

    /// Attempts in all: the first and every retry.
    public var maxAttempts: Int { retryOffsets.count + 1 }

    /// Decline codes no retry can fix (Stripe does not retry hard declines): the card is gone or
    /// the charge is fraudulent. Dunning skips ahead to the final action.
    public static let hardDeclineCodes: Set<String> = [
        "lost_card", "stolen_card", "pickup_card", "fraudulent", "incorrect_number", "invalid_account",
        "restricted_card", "revocation_of_all_authorizations", "revocation_of_authorization", "security_violation",
        "stop_payment_order", "merchant_blacklist", "do_not_honor_permanently",
    ]

    /// When attempt `failedAttempt + 1` is due, or nil when none is left (the last attempt failed,
    /// or the decline was hard).
    public func nextAttempt(after failedAttempt: Int, firstFailedAt: Date, declineCode: String?) -> Date? {
        if let declineCode, Self.hardDeclineCodes.contains(declineCode) { return nil }
        let index = failedAttempt - 1
        guard index >= 0, index < retryOffsets.count else { return nil }
        return firstFailedAt.addingTimeInterval(retryOffsets[index])
    }

    /// Reads `settings.billing.dunning` (the tenant's settings document as JSON text); a setting
    /// that is there but wrong throws, naming it.
    public static func from(settingsJSON: String) throws -> DunningPolicy {
        guard let data = settingsJSON.data(using: .utf8),
              let settings = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let billing = settings["billing"] as? [String: Any],
              let dunning = billing["dunning"] as? [String: Any] else { return .standard }
        var policy = standard
        if let hours = dunning["retry_hours"] ?? dunning["retry_days"] {
            let unit: Double = dunning["retry_hours"] != nil ? 3_600 : 86_400
            guard let values = hours as? [NSNumber], values.count <= 30,
                  values.allSatisfy({ $0.doubleValue > 0 }),
                  zip(values, values.dropFirst()).allSatisfy({ $0.doubleValue < $1.doubleValue }) else {
                throw BillingError.badSetting("billing.dunning.retry_hours/retry_days must be at most 30 increasing positive numbers")
            }
            policy.retryOffsets = values.map { $0.doubleValue * unit }
        }
        if let action = dunning["final_action"] {
            guard let text = action as? String, let parsed = FinalAction(rawValue: text) else {
                throw BillingError.badSetting("billing.dunning.final_action must be cancel, unpaid or past_due")
            }
            policy.finalAction = parsed
        }
        return policy
    }
}
