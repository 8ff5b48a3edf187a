import NIOCore
import Queue
import Redis
import Synchronization

/// Stores jobs from many concurrent requests in shared round trips. A request's job joins a
/// pending batch; a flush sends everything pending as one script call per queue (one EVALSHA
/// with many jobs) and answers each request with its own receipt. Nothing waits on a timer: the
/// first job flushes at once, and jobs that arrive while `maxInFlight` flushes are out ride
/// together on the next one. A request is answered only after Redis has stored its job (or with
/// the error that says it did not).
///
/// The hot path stays off Swift concurrency's scheduler: the next batch is written from the
/// Redis connection's event loop as soon as the previous reply arrives there, and replies
/// resume the waiting requests directly. Only a request that finds no flush in flight writes
/// one itself.
final class BatchingEnqueuer: Sendable {
    private typealias Waiter = CheckedContinuation<JobClient.Receipt, any Error>

    private struct Entry {
        var job: EncodedJob
        var waiter: Waiter
    }

    private struct State {
        var pending: [Entry] = []
        var inFlight = 0
    }

    private let client: JobClient
    private let maxBatch: Int
    private let maxInFlight: Int
    private let state = Mutex(State())

    init(client: JobClient, maxBatch: Int = 128, maxInFlight: Int = 2) {
        self.client = client
        self.maxBatch = max(1, maxBatch)
        self.maxInFlight = max(1, maxInFlight)
    }

    /// Stores `job`; returns its receipt once Redis has it.
    /// - Throws: `RedisError` when Redis did not store it.
    func enqueue(_ job: EncodedJob) async throws -> JobClient.Receipt {
        let connection = try await client.redis.sharedConnection()
        return try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let batch = state.withLock { state -> [Entry] in
                state.pending.append(Entry(job: job, waiter: waiter))
                guard state.inFlight < maxInFlight else { return [] }
                state.inFlight += 1
                return take(from: &state)
            }
            if !batch.isEmpty { flush(batch, on: connection) }
        }
    }

    private func take(from state: inout State) -> [Entry] {
        let count = min(maxBatch, state.pending.count)
        let batch = Array(state.pending.prefix(count))
        state.pending.removeFirst(count)
        return batch
    }

    private func flush(_ batch: [Entry], on connection: RedisConnection) {
        let plan = client.plan(batch.map(\.job))
        connection.write(plan.invocations.map(\.command), timeout: client.redis.configuration.commandTimeout)
            .whenComplete { result in
                // On the connection's event loop.
                switch result {
                case .success(let replies) where replies.contains(where: \.isNoScript):
                    // Redis has forgotten the script (a restart, SCRIPT FLUSH): nothing ran. The
                    // client's own path loads it and sends again.
                    Task { await self.flushReloading(batch) }
                case .success(let replies):
                    self.answer(batch, with: Result { try plan.receipts(from: replies) })
                case .failure(let error):
                    self.answer(batch, with: .failure(error))
                }
                self.next(on: connection)
            }
    }

    private func flushReloading(_ batch: [Entry]) async {
        do {
            answer(batch, with: .success(try await client.enqueue(encoded: batch.map(\.job))))
        } catch {
            answer(batch, with: .failure(error))
        }
    }

    private func answer(_ batch: [Entry], with result: Result<[JobClient.Receipt], any Error>) {
        switch result {
        case .success(let receipts):
            for (entry, receipt) in zip(batch, receipts) { entry.waiter.resume(returning: receipt) }
        case .failure(let error):
            for entry in batch { entry.waiter.resume(throwing: error) }
        }
    }

    /// After a flush: sends what gathered meanwhile, or gives up its turn.
    private func next(on connection: RedisConnection) {
        let batch = state.withLock { state -> [Entry] in
            guard !state.pending.isEmpty else {
                state.inFlight -= 1
                return []
            }
            return take(from: &state)
        }
        if !batch.isEmpty { flush(batch, on: connection) }
    }
}
