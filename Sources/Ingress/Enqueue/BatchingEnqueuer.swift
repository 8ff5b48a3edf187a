import Queue
import Redis
import Synchronization

/// Stores jobs from many concurrent requests in shared round trips. A request's job joins a
/// pending batch; a flush sends everything pending as one script call per queue (one EVALSHA
/// with many jobs) and answers each request with its own receipt. Nothing waits on a timer: the
/// first job flushes at once, and jobs that arrive while `maxConcurrentFlushes` are in flight
/// ride together on the next one. A request is answered only after Redis has stored its job
/// (or with the error that says it did not).
final class BatchingEnqueuer: Sendable {
    private typealias Waiter = CheckedContinuation<JobClient.Receipt, any Error>

    private struct State {
        var pending: [(job: EncodedJob, waiter: Waiter)] = []
        var flushing = 0
    }

    private let client: JobClient
    private let maxBatch: Int
    private let maxConcurrentFlushes: Int
    private let state = Mutex(State())

    init(client: JobClient, maxBatch: Int = 128, maxConcurrentFlushes: Int = 2) {
        self.client = client
        self.maxBatch = max(1, maxBatch)
        self.maxConcurrentFlushes = max(1, maxConcurrentFlushes)
    }

    /// Stores `job`; returns its receipt once Redis has it.
    /// - Throws: `RedisError` when Redis did not store it.
    func enqueue(_ job: EncodedJob) async throws -> JobClient.Receipt {
        try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let startFlush = state.withLock { state -> Bool in
                state.pending.append((job, waiter))
                guard state.flushing < maxConcurrentFlushes else { return false }
                state.flushing += 1
                return true
            }
            if startFlush { Task { await flushUntilEmpty() } }
        }
    }

    private func flushUntilEmpty() async {
        while true {
            let batch = state.withLock { state -> [(job: EncodedJob, waiter: Waiter)] in
                guard !state.pending.isEmpty else {
                    state.flushing -= 1
                    return []
                }
                let count = min(maxBatch, state.pending.count)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                return batch
            }
            if batch.isEmpty { return }
            await flush(batch)
        }
    }

    private func flush(_ batch: [(job: EncodedJob, waiter: Waiter)]) async {
        do {
            let receipts = try await client.enqueue(encoded: batch.map(\.job))
            guard receipts.count == batch.count else {
                throw RedisError.unexpectedReply("enqueue answered \(receipts.count) receipts for \(batch.count) jobs")
            }
            for (entry, receipt) in zip(batch, receipts) { entry.waiter.resume(returning: receipt) }
        } catch {
            for entry in batch { entry.waiter.resume(throwing: error) }
        }
    }
}
