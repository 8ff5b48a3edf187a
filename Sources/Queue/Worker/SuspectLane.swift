import Logging
import Redis
import Synchronization

/// Runs the suspects of a process one at a time, and says in Redis which one runs.
///
/// A suspect is a job that was in flight when a worker process died (`crashes` ≥ 1 in its
/// envelope). A death blames every job the process held, since any of them may have caused it;
/// run again side by side, the job that kills its process would take the same neighbours down
/// with it each time, and each would be blamed alike. So suspects run alone: at most one per
/// process at a time (other jobs still run beside it), and before it starts, its id is written
/// to the process's suspect key (`GlobalKeys.suspect`). When the process dies again, crash
/// recovery (`CrashRecovery`) counts the death against that one suspect only; the others that
/// waited for the lane are not blamed again. A suspect that runs to its outcome clears the key.
final class SuspectLane: Sendable {
    private struct State {
        var busy = false
        var order: [UInt64] = []
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var cancelled: Set<UInt64> = []
        var next: UInt64 = 0
    }

    private let state = Mutex(State())
    private let redis: RedisClient
    private let key: String
    private let logger: Logger

    init(redis: RedisClient, namespace: String, processID: String, logger: Logger) {
        self.redis = redis
        self.key = GlobalKeys(namespace: namespace).suspect(processID)
        self.logger = logger
    }

    /// Runs `body` once no other suspect of this process runs, after marking `id` of `queue` as the
    /// one running. False, without running `body`, when the task was cancelled while waiting.
    func run(id: String, queue: String, _ body: () async -> Void) async -> Bool {
        guard await acquire() else { return false }
        defer { release() }
        if Task.isCancelled { return false }
        await mark(RunningSuspect(queue: queue, id: id).stored)
        await body()
        await clear()
        return true
    }

    /// Writes the mark, trying again while Redis does not answer (unmarked, a death would not be
    /// blamed on this job, and a job that kills its process would go on doing so).
    private func mark(_ value: String) async {
        var delay = Duration.milliseconds(100)
        for attempt in 1...20 {
            do {
                try await redis.send("SET", .string(key), .string(value)).unwrapped()
                return
            } catch {
                if attempt == 20 || Task.isCancelled {
                    logger.warning("could not mark the suspect job that runs; it runs unmarked", metadata: ["error": "\(error)"])
                    return
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    private func clear() async {
        do { try await redis.send("DEL", .string(key)).unwrapped() } catch {
            // Left behind, a later death of this process would blame this finished job: recovery
            // finds it no longer in flight, so nothing comes of it.
            logger.notice("could not clear the suspect mark", metadata: ["error": "\(error)"])
        }
    }

    private func acquire() async -> Bool {
        let token: UInt64? = state.withLock { s in
            if !s.busy { s.busy = true; return nil }
            s.next += 1
            return s.next
        }
        guard let token else { return true }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let cancelledAlready = state.withLock { s -> Bool in
                    if s.cancelled.remove(token) != nil { return true }
                    s.waiters[token] = continuation
                    s.order.append(token)
                    return false
                }
                if cancelledAlready { continuation.resume(returning: false) }
            }
        } onCancel: {
            let waiting = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                if let continuation = s.waiters.removeValue(forKey: token) { return continuation }
                s.cancelled.insert(token)
                return nil
            }
            waiting?.resume(returning: false)
        }
    }

    /// Hands the lane to the next waiter, or frees it.
    private func release() {
        let next = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            while !s.order.isEmpty {
                let token = s.order.removeFirst()
                if let continuation = s.waiters.removeValue(forKey: token) { return continuation }
            }
            s.busy = false
            return nil
        }
        next?.resume(returning: true)
    }
}

/// The suspect a process runs, as its suspect key holds it.
struct RunningSuspect: Equatable {
    var queue: String
    var id: String

    var stored: String { queue + "\n" + id }

    init(queue: String, id: String) {
        self.queue = queue
        self.id = id
    }

    init?(stored: String) {
        let parts = stored.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        self.init(queue: String(parts[0]), id: String(parts[1]))
    }
}
