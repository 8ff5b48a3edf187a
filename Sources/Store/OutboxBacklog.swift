import Foundation
import Logging
import PostgresNIO
import Queue

/// The outbox's backlog as a platform check, `outbox.backlog`, where operators look (`cityos
/// status`, `GET /v1/status`, the dashboard, `/metrics`): jobs committed to PostgreSQL (a fan-out's,
/// a webhook's follow-up) that have not reached their Redis queue. Rows leave the outbox within
/// moments while a relay runs; rows older than ``stuckAfterSeconds`` mean no relay moves them (no
/// worker process runs, or each batch fails: the `outbox.relay` check says why). Every working
/// process publishes it every ``interval``; a check not published for ``staleAfterSeconds`` reads
/// as failing (`not_published`): no process relays at all.
public struct OutboxBacklog: Sendable, Equatable {
    /// The check's name in the status.
    public static let checkName = "outbox.backlog"
    /// Older than this, a row is stuck rather than on its way.
    public static let stuckAfterSeconds = 60
    /// The invariant counting the stuck rows.
    public static let stuckInvariant = "rows_waiting_over_\(stuckAfterSeconds)s"
    /// How often each working process publishes the check.
    public static let interval: Duration = .seconds(10)
    /// How old the check may grow before readers call it failing: several periods missed.
    public static let staleAfterSeconds = 60
    /// The most rows counted (`waiting` and `stuck` stop there): a reading of a large backlog stays
    /// cheap while many processes take it.
    public static let countLimit = 10_000

    /// Rows in the outbox now (at most ``countLimit``).
    public var waiting: Int
    /// Of those, the rows older than ``stuckAfterSeconds`` (at most ``countLimit``).
    public var stuck: Int
    /// How long the oldest row has waited (PostgreSQL's clock; the oldest of the first 1,000 by id);
    /// nil when the outbox is empty.
    public var oldestSeconds: Double?
    /// A few stuck rows, `job_id (kind → queue)`, oldest first.
    public var stuckSamples: [String]

    /// Reads the backlog (every tenant's rows, as the platform role).
    public static func read(_ database: Database) async throws -> OutboxBacklog {
        let logger = database.logger
        return try await database.withPlatformSweep { connection in
            let stuckAfter = Double(stuckAfterSeconds)
            // Counts stop at `countLimit`; the oldest row is looked for among the first 1,000 by id
            // (ids follow commits closely; `created_at` is when a row's transaction began).
            let rows = try await connection.query("""
                SELECT (SELECT count(*) FROM (SELECT 1 FROM outbox LIMIT \(countLimit)) AS w)::int,
                       (SELECT count(*) FROM (SELECT 1 FROM outbox
                          WHERE created_at <= clock_timestamp() - make_interval(secs => \(stuckAfter)) LIMIT \(countLimit)) AS s)::int,
                       (SELECT extract(epoch FROM clock_timestamp() - min(created_at))
                          FROM (SELECT created_at FROM outbox ORDER BY id LIMIT 1000) AS f)::float8
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
            let count = { (n: Int) in n >= Self.countLimit ? "over \(n)" : "\(n)" }
            samples = ["\(count(waiting)) jobs wait in the outbox, \(count(stuck)) of them for over \(Self.stuckAfterSeconds) s "
                + "(the oldest \(oldest) s): no relay moves them (is a worker process running? see the outbox.relay check)"]
                + stuckSamples
        }
        return StatusCheck(name: Self.checkName, invariants: [Self.stuckInvariant: stuck], samples: samples,
                           checkedAt: checkedAt, jobID: "outbox-backlog", staleAfterSeconds: Self.staleAfterSeconds)
    }

    /// Publishes the check now and every ``interval`` until the calling task is cancelled. A read
    /// that fails publishes nothing (logged, once every 5 minutes at most), so the check grows old
    /// and reads as failing (`not_published`) after ``staleAfterSeconds``.
    public static func publish(database: Database, checks: StatusChecks) async {
        var warnedAt: ContinuousClock.Instant?
        while !Task.isCancelled {
            do {
                try await checks.publish(try await read(database).check())
            } catch where !Task.isCancelled {
                if warnedAt.map({ ContinuousClock.now - $0 > .seconds(300) }) ?? true {
                    database.logger.warning("outbox backlog: could not read or publish it; trying again", metadata: [
                        "error": "\(PostgresServerMessage(error).message)"])
                    warnedAt = .now
                }
            } catch {}
            try? await Task.sleep(for: interval)
        }
    }
}
