import Foundation
import Queue
import Logging
import PostgresNIO

/// A job to enqueue into Redis if, and only if, the transaction that wrote it commits.
public struct OutboxJob: Sendable, Equatable {
    /// The job's id; Redis dedupes by it. Time-ordered by default (a UUIDv7 from `JobID`).
    public var jobID: String
    public var kind: String
    public var queue: String
    /// The tenant the job works for, or nil for platform work.
    public var tenant: UUID?
    /// The job's arguments, a JSON document (PostgreSQL stores it as jsonb, so key
    /// order and spacing may come back normalised).
    public var argsJSON: String
    /// When the job is due, or nil for now.
    public var runAt: Date?
    /// Its W3C traceparent: by default a child of the running job's (the job that adds it), so
    /// the two log the same trace id; nil outside a job (the relay then starts a new trace).
    public var trace: String?

    public init(
        jobID: String = JobID.make(), kind: String, queue: String, tenant: UUID?,
        argsJSON: String, runAt: Date? = nil, trace: String? = TraceParent.current.map(TraceParent.child(of:))
    ) {
        self.jobID = jobID
        self.kind = kind
        self.queue = queue
        self.tenant = tenant
        self.argsJSON = argsJSON
        self.runAt = runAt
        self.trace = trace
    }
}

/// The transactional outbox: enqueue work as part of a caller's transaction.
///
/// Row-level security limits a tenant transaction to jobs of its own tenant (or none);
/// a platform sweep may enqueue for any tenant. ``OutboxRelay`` moves committed rows to Redis.
public enum Outbox {
    /// The channel notified when a job is added; the relay LISTENs on it.
    public static let channel = "cityos_outbox"

    static let logger = Logger(label: "cityos.store.outbox")

    /// Adds `job` in the transaction that `connection` is in, and notifies the relay
    /// when that transaction commits. Returns false if a job with this id is already
    /// waiting in the outbox (it is not added twice).
    @discardableResult
    public static func enqueue(on connection: PostgresConnection, job: OutboxJob, logger: Logger? = nil) async throws -> Bool {
        let logger = logger ?? Self.logger
        do {
            let future: EventLoopFuture<PostgresQueryResult> = connection.query(
                """
                INSERT INTO outbox (job_id, kind, queue, tenant_id, args, run_at, trace)
                VALUES (\(job.jobID), \(job.kind), \(job.queue), \(job.tenant), \(job.argsJSON)::jsonb, \(job.runAt), \(job.trace))
                ON CONFLICT (job_id) DO NOTHING
                """,
                logger: logger
            )
            let inserted = try await future.get().metadata.rows ?? 0
            // NOTIFY is delivered at commit, and not at all if the transaction rolls back;
            // PostgreSQL folds identical notifications of one transaction into one.
            try await connection.query("SELECT pg_notify(\(channel), '')", logger: logger)
            return inserted > 0
        } catch {
            throw StoreError.query("adding job \(job.jobID) (\(job.kind)) to the outbox", error)
        }
    }
}
