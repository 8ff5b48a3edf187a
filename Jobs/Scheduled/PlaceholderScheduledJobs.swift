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

/// `sync.reconcile` (hourly): walk Medusa and Payload in batches and repair drift. Placeholder.
public struct SyncReconcilePlaceholder: NotImplementedScheduledJob {
    public typealias Arguments = JSONValue
    public static let kind = "sync.reconcile"
    public static let options = placeholderOptions(queue: "sync")
    public init() {}
}

extension JobRegistry {
    /// Registers the placeholders for the scheduled job kinds (see the top of this file).
    public mutating func registerScheduledPlaceholders() {
        register(SyncReconcilePlaceholder())
    }
}
