import Foundation
import Queue
import Store

/// `diag.record {"key": "…"}`: inserts one row `(key, job_id)` into `diag_records` through the
/// execution ledger, so however often the job is delivered the row is written once. Operators
/// use it to check a deployment end to end; the crash tests use it to prove exactly-once effects.
public struct RecordJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        public var key: String
        public init(key: String) { self.key = key }
    }
    public static let kind = "diag.record"
    public static let options = JobOptions(queue: "default", retry: .exponentialJitter(maxAttempts: 10, base: .milliseconds(200)),
                                           timeout: .seconds(30))
    /// Where the row goes; a process without a database refuses the job (it is retried elsewhere).
    let database: Database?

    public init(database: Database?) { self.database = database }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let outcome = try await ExecutionLedger(database: database).insertOnce(
            jobID: context.jobID, kind: Self.kind, tenant: nil,
            .init(into: "diag_records", columns: ["key", "job_id"], values: [arguments.key, context.jobID]))
        if outcome == .ran { FailPoints.crashIfEnabled("diag.record.after_commit") }
    }
}
