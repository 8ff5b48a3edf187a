import Foundation
import Logging
import PostgresNIO
import Queue

/// The outbox's backlog as a platform check, `outbox.backlog`, where operators look (`cityos
/// status`, `GET /v1/status`, the dashboard, `/metrics`): jobs committed to PostgreSQL (a fan-out's,
/// a webhook's follow-up) that have not reached their Redis queue. Rows leave the outbox within
/// moments while a relay runs; rows older than ``stuckAfterSeconds`` mean no relay moves them (no
/// worker process runs, or each batch fails: the `outbox.relay` check says why). Every working
/// process publishes it every ``interval``; its `checked_at` says when last, so a check gone old
/// says no relay runs at all.
public struct OutboxBacklog: Sendable, Equatable {
    public static let checkName = "outbox.backlog"
    /// Older than this, a row is stuck rather than on its way.
    public static let stuckAfterSeconds = 60
    public static let interval: Duration = .seconds(10)

    /// Rows in the outbox now.
    public var waiting: Int
    /// Of those, the rows older than ``stuckAfterSeconds``.
    public var stuck: Int
    /// How long the oldest row has waited (PostgreSQL's clock); nil when the outbox is empty.
    public var oldestSeconds: Double?
    /// A few stuck rows, `job_id (kind → queue)`, oldest first.
    public var stuckSamples: [String]

    /// Reads the backlog (every tenant's rows, as the platform role).
    public static func read(_ database: Database) async throws -> OutboxBacklog {
        let logger = database.logger
        return try await database.withPlatformSweep { connection in
            let stuckAfter = Double(stuckAfterSeconds)
            let rows = try await connection.query("""
                SELECT count(*)::int, (count(*) FILTER (WHERE created_at <= clock_timestamp() - make_interval(secs => \(stuckAfter))))::int,
                       extract(epoch FROM clock_timestamp() - min(created_at))::float8
                FROM outbox
                """, logger: logger)
            var backlog = OutboxBacklog(waiting: 0, stuck: 0, oldestSeconds: nil, stuckSamples: [])
            for try await (waiting, stuck, oldest) in rows.decode((Int, Int, Double?).self) {
                backlog = OutboxBacklog(waiting: waiting, stuck: stuck, oldestSeconds: oldest, stuckSamples: [])
            }
            guard backlog.stuck > 0 else { return backlog }
            let samples = try await connection.query("""
                SELECT job_id, kind, queue FROM outbox
                WHERE created_at <= clock_timestamp() - make_interval(secs => \(stuckAfter))
                ORDER BY id LIMIT 5
                """, logger: logger)
            for try await (job, kind, queue) in samples.decode((String, String, String).self) {
                backlog.stuckSamples.append("\(job) (\(kind) → \(queue))")
            }
            return backlog
        }
    }

    /// The check to publish: not ok while rows are stuck, the first sample saying how many wait
    /// and for how long.
    public func check(checkedAt: Int64 = Clock.nowMillis()) -> StatusCheck {
        var samples: [String] = []
        if stuck > 0 {
            let oldest = Int(oldestSeconds ?? 0)
            samples = ["\(waiting) jobs wait in the outbox, \(stuck) of them for over \(Self.stuckAfterSeconds) s (the oldest "
                + "\(oldest) s): no relay moves them (is a worker process running? see the outbox.relay check)"] + stuckSamples
        }
        return StatusCheck(name: Self.checkName, invariants: ["rows_waiting_over_60s": stuck], samples: samples,
                           checkedAt: checkedAt, jobID: "outbox-backlog")
    }

    /// Publishes the check now and every ``interval`` until the calling task is cancelled. A read
    /// that fails publishes nothing (the `outbox.relay` check says the database fails), so the
    /// check's `checked_at` grows old.
    public static func publish(database: Database, checks: StatusChecks) async {
        while !Task.isCancelled {
            if let backlog = try? await read(database) {
                try? await checks.publish(backlog.check())
            }
            try? await Task.sleep(for: interval)
        }
    }
}
