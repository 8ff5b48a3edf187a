import Foundation

/// Billing states and inputs that stop a job, each saying what to look at.
public enum BillingError: Error, CustomStringConvertible, Sendable {
    case badSetting(String)
    case unknownPlan(String)
    case unknownSubscription(UUID)
    case amountMismatch(invoice: UUID, expected: Int64, charged: Int)

    public var description: String {
        switch self {
        case .badSetting(let message): return "tenant setting: \(message)"
        case .unknownPlan(let plan): return "no active plan \(plan) in this tenant"
        case .unknownSubscription(let id): return "no subscription \(id) in this tenant"
        case .amountMismatch(let invoice, let expected, let charged):
            return "invoice \(invoice): Stripe charged \(charged), the invoice is \(expected); left for an operator"
        }
    }
}
