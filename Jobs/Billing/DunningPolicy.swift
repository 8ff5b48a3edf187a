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

    /// The latest a retry may come after the first failure: a year.
    public static let longestRetryOffset: TimeInterval = 365 * 86_400

    /// Reads `settings.billing.dunning` (the tenant's settings document as JSON text); a setting
    /// that is there but wrong throws, naming it.
    public static func from(settingsJSON: String) throws -> DunningPolicy {
        let (policy, problems) = read(settingsJSON: settingsJSON)
        if !problems.isEmpty { throw BillingError.badSetting(problems.joined(separator: "; ")) }
        return policy
    }

    /// Reads `settings.billing.dunning`, never failing: a tenant's typo must not stall its
    /// customers' dunning. Each part that is wrong is named in `problems` and falls back: the
    /// retries to ``standard``'s, the final action to `past_due` (nothing is canceled on a
    /// setting nobody could read).
    public static func read(settingsJSON: String) -> (policy: DunningPolicy, problems: [String]) {
        guard let data = settingsJSON.data(using: .utf8),
              let settings = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let billing = settings["billing"] as? [String: Any],
              let dunning = billing["dunning"] as? [String: Any] else { return (.standard, []) }
        var policy = standard
        var problems: [String] = []
        if dunning.keys.contains("retry_hours") || dunning.keys.contains("retry_days") {
            let unit: Double = dunning.keys.contains("retry_hours") ? 3_600 : 86_400
            let offsets = ((dunning["retry_hours"] ?? dunning["retry_days"]) as? [NSNumber])?.map { $0.doubleValue * unit }
            if let offsets, offsets.count <= 30, offsets.allSatisfy({ $0.isFinite && $0 > 0 }),
               zip(offsets, offsets.dropFirst()).allSatisfy({ $0 < $1 }), (offsets.last ?? 0) <= longestRetryOffset {
                policy.retryOffsets = offsets
            } else {
                problems.append("billing.dunning.retry_hours/retry_days must be at most 30 increasing positive numbers, "
                                + "the last at most 365 days (the standard retries apply)")
            }
        }
        if let action = dunning["final_action"] {
            if let text = action as? String, let parsed = FinalAction(rawValue: text) {
                policy.finalAction = parsed
            } else {
                policy.finalAction = .pastDue
                problems.append("billing.dunning.final_action must be cancel, unpaid or past_due (past_due applies)")
            }
        }
        return (policy, problems)
    }
}
