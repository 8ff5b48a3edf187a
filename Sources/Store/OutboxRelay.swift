import Foundation
import Logging
import PostgresNIO

/// Moves committed outbox rows to Redis.
///
/// It LISTENs on ``Outbox/channel`` and relays within moments of a commit; it also polls
/// every `pollInterval`, so a missed notification (listener reconnecting) only delays.
/// Each batch is one transaction as the platform role: select rows `FOR UPDATE SKIP
/// LOCKED` by id, hand them to the sink, delete them, commit. A crash or a sink failure
/// before the commit leaves the rows, and the same job ids are relayed again later: the
/// sink must be idempotent by job id (the Redis enqueue dedupes by it). Several relays
/// may run at once; each row goes to one of them at a time.
public struct OutboxRelay: Sendable {
    /// Receives a batch of jobs, in outbox order; throwing keeps them in the outbox.
    public typealias Sink = @Sendable ([OutboxJob]) async throws -> Void

    /// What the relay did, for metrics, logs and tests.
    public enum Event: Sendable, Equatable {
        /// LISTEN is in place: from now on a commit wakes the relay.
        case listening
        /// A batch went through: these jobs reached the sink and left the outbox (none when it
        /// found the outbox empty: the database answered, and there was nothing to hand Redis).
        case relayed(jobIDs: [String])
        /// The sink threw; the batch stays in the outbox for the next try.
        case sinkFailed(message: String)
        /// A database error stopped a batch; it is retried at the next wake-up.
        case databaseFailed(message: String)
        /// LISTEN failed or was lost; polling goes on while it reconnects.
        case listenerFailed(message: String)
    }

    public let database: Database
    public let batchSize: Int
    public let pollInterval: Duration
    private let sink: Sink
    private let onEvent: @Sendable (Event) -> Void

    /// A relay from `database`'s outbox into `sink`. `database` must be able to open two
    /// connections (one stays in LISTEN).
    public init(
        database: Database, batchSize: Int = 100, pollInterval: Duration = .seconds(1),
        onEvent: @escaping @Sendable (Event) -> Void = { _ in },
        sink: @escaping Sink
    ) {
        self.database = database
        self.batchSize = max(1, batchSize)
        self.pollInterval = pollInterval
        self.onEvent = onEvent
        self.sink = sink
    }

    /// Relays until the calling task is cancelled.
    public func run() async {
        let (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withDiscardingTaskGroup { group in
            group.addTask { await listen(wake) }
            group.addTask { await poll(wake) }
            for await _ in wakeUps { await drain() }  // ends when this task is cancelled
            group.cancelAll()
        }
    }

    /// Relays one batch; returns how many jobs it relayed. A sink error is rethrown
    /// unchanged, after the transaction rolled back.
    @discardableResult
    public func relayBatch() async throws -> Int {
        do {
            return try await relayOneBatch()
        } catch let failure as SinkFailure {
            throw failure.underlying
        }
    }

    /// Relays batches until the outbox is empty or a batch fails.
    private func drain() async {
        while !Task.isCancelled {
            do {
                if try await relayOneBatch() < batchSize { return }
            } catch let failure as SinkFailure {
                report(.sinkFailed(message: "\(failure.underlying)"))
                return
            } catch {
                report(.databaseFailed(message: PostgresServerMessage(error).message))
                return
            }
        }
    }

    private func relayOneBatch() async throws -> Int {
        let logger = database.logger
        let (batchSize, sink) = (self.batchSize, self.sink)
        let relayed = try await database.withPlatformSweep { connection -> [OutboxJob] in
            let (ids, jobs) = try await Self.lockBatch(connection, limit: batchSize, logger: logger)
            guard !jobs.isEmpty else { return [] }
            do {
                try await sink(jobs)
            } catch {
                throw SinkFailure(underlying: error)
            }
            try await connection.query("DELETE FROM outbox WHERE id = ANY(\(ids))", logger: logger)
            return jobs
        }
        report(.relayed(jobIDs: relayed.map(\.jobID)))
        return relayed.count
    }

    private static func lockBatch(
        _ connection: PostgresConnection, limit: Int, logger: Logger
    ) async throws -> ([Int64], [OutboxJob]) {
        let rows = try await connection.query(
            """
            SELECT id, job_id, kind, queue, tenant_id, args::text, run_at, trace
            FROM outbox ORDER BY id LIMIT \(limit)
            FOR UPDATE SKIP LOCKED
            """,
            logger: logger
        )
        var ids: [Int64] = []
        var jobs: [OutboxJob] = []
        let columns = (Int64, String, String, String, UUID?, String, Date?, String?).self
        for try await (id, jobID, kind, queue, tenant, args, runAt, trace) in rows.decode(columns) {
            ids.append(id)
            jobs.append(OutboxJob(jobID: jobID, kind: kind, queue: queue, tenant: tenant, argsJSON: args, runAt: runAt,
                                  trace: trace))
        }
        return (ids, jobs)
    }

    /// Holds LISTEN on a connection of its own; wakes the relay on each notification and
    /// once when LISTEN is in place (to catch commits made before it was).
    private func listen(_ wake: AsyncStream<Void>.Continuation) async {
        while !Task.isCancelled {
            do {
                try await database.client.withConnection { connection in
                    try await connection.listen(on: Outbox.channel) { notifications in
                        report(.listening)
                        wake.yield()
                        for try await _ in notifications { wake.yield() }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                report(.listenerFailed(message: PostgresServerMessage(error).message))
            }
            try? await Task.sleep(for: pollInterval)  // then listen again
        }
    }

    /// Wakes the relay now and every `pollInterval`, the fallback for lost notifications.
    private func poll(_ wake: AsyncStream<Void>.Continuation) async {
        while !Task.isCancelled {
            wake.yield()
            try? await Task.sleep(for: pollInterval)
        }
    }

    private func report(_ event: Event) {
        switch event {
        case .sinkFailed(let message), .databaseFailed(let message), .listenerFailed(let message):
            database.logger.warning("outbox relay: \(event)", metadata: ["error": "\(message)"])
        case .listening, .relayed:
            database.logger.debug("outbox relay: \(event)")
        }
        onEvent(event)
    }

    /// Marks an error thrown by the sink, so it is told apart from database errors.
    private struct SinkFailure: Error {
        let underlying: any Error
    }
}
