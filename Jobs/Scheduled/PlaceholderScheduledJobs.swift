import Queue

// PLACEHOLDERS — the job kinds that Schedules/*.yaml name, registered so that the scheduler
// starts (a schedule naming an unknown kind stops start-up). None of them does its work yet:
// each logs "not implemented yet" and fails with a permanent error, so the job goes straight
// to its queue's dead letters and shows there — it never pretends to have succeeded.
// Replace each with the real handler (same kind name) and delete it from this file.

/// The behaviour shared by the placeholders: accept any arguments, do nothing, fail loudly.
public protocol NotImplementedScheduledJob: JobHandler where Arguments == JSONValue {}

extension NotImplementedScheduledJob {
    public func run(_ arguments: JSONValue, context: JobContext) async throws {
        context.logger.error("not implemented yet", metadata: [
            "kind": "\(Self.kind)", "job_id": "\(context.jobID)",
        ])
        throw JobFailure.permanent("\(Self.kind) is not implemented yet (placeholder handler in Jobs/Scheduled)")
    }

    /// No retries: a retry of a placeholder cannot succeed.
    static func placeholderOptions(queue: String) -> JobOptions {
        JobOptions(queue: queue, retry: .dontRetry, timeout: .seconds(60))
    }
}

/// `billing.cycle` (daily): invoice and charge the subscriptions due. Placeholder.
public struct BillingCyclePlaceholder: NotImplementedScheduledJob {
    public typealias Arguments = JSONValue
    public static let kind = "billing.cycle"
    public static let options = placeholderOptions(queue: "billing")
    public init() {}
}

/// `payments.retry` (every 15 minutes): retry failed charges due under the dunning schedule. Placeholder.
public struct PaymentsRetryPlaceholder: NotImplementedScheduledJob {
    public typealias Arguments = JSONValue
    public static let kind = "payments.retry"
    public static let options = placeholderOptions(queue: "payments")
    public init() {}
}

/// `money.reconcile` (daily): match the ledger (commissions, payouts, invoices) with Stripe. Placeholder.
public struct MoneyReconcilePlaceholder: NotImplementedScheduledJob {
    public typealias Arguments = JSONValue
    public static let kind = "money.reconcile"
    public static let options = placeholderOptions(queue: "payments")
    public init() {}
}

extension JobRegistry {
    /// Registers the placeholders for the scheduled job kinds (see the top of this file).
    public mutating func registerScheduledPlaceholders() {
        register(BillingCyclePlaceholder())
        register(PaymentsRetryPlaceholder())
        register(MoneyReconcilePlaceholder())
    }
}
