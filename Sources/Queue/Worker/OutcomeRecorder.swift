import Logging
import Redis
import Synchronization

/// Records what became of each job. Successes are acknowledged in batches: every ack that
/// arrives while one round trip is under way goes in the next one. Retries and dead letters
/// are written at once. A job leaves this process's in-flight hash only here, and each outcome
/// only while the job is still held under the lease of the fetch its run came from (`Lease`).
final class OutcomeRecorder: Sendable {
    private let redis: RedisClient
    private let processID: String
    private let namespace: String
    private let deadLetterCap: Int
    private let logger: Logger
    /// Acks not yet written, by queue: each job's id and its run's lease.
    private let pending = Mutex<[String: [Ack]]>([:])
    private struct Ack {
        let id: String
        let lease: Lease
    }
    private let signal: AsyncStream<Void>
    private let signalContinuation: AsyncStream<Void>.Continuation
    let metrics: WorkerMetrics

    init(redis: RedisClient, processID: String, namespace: String, deadLetterCap: Int,
         metrics: WorkerMetrics, logger: Logger) {
        self.redis = redis
        self.processID = processID
        self.namespace = namespace
        self.deadLetterCap = deadLetterCap
        self.metrics = metrics
        self.logger = logger
        (signal, signalContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The jobs whose outcome is on its way to Redis (a success waiting for its ack, a failed
    /// attempt being written): no longer running, still in this process's in-flight hash, and
    /// not strays (`Heartbeat.recoverStrays`). Counted: an outcome of a run fetched again may
    /// still be on its way while the new run's is written.
    private let unwritten = Mutex<[String: Int]>([:])
    var held: Set<String> { unwritten.withLock { Set($0.keys) } }
    private func hold(_ id: String) { unwritten.withLock { $0[id, default: 0] += 1 } }
    private func release(_ ids: some Sequence<String>) {
        unwritten.withLock { held in
            for id in ids {
                if let count = held[id], count > 1 { held[id] = count - 1 } else { held[id] = nil }
            }
        }
    }

    /// Each failed-attempt write under way has a number; those whose job was fetched again since
    /// are stale (``fetchedAgain(_:)``).
    private let writes = Mutex<(next: UInt64, byID: [String: Set<UInt64>], stale: Set<UInt64>)>((0, [:], []))

    /// Jobs this process has just fetched. One whose earlier run's outcome is still on its way was
    /// put back in line meanwhile (this process taken for dead while Redis was out of its reach)
    /// and fetched anew: that outcome is stale, and written now it would take the new run's
    /// in-flight entry (a retry or a dead letter while the new run goes on, so a third run). It is
    /// dropped: an ack not yet sent at once, a failed attempt's write at its next try. A write
    /// already on its way finds the entry under another lease in Redis and changes nothing.
    func fetchedAgain(_ ids: [String]) {
        let again = unwritten.withLock { held in Set(ids.filter { held[$0] != nil }) }
        guard !again.isEmpty else { return }
        let droppedAcks = pending.withLock { pending -> [String] in
            var dropped: [String] = []
            for queue in pending.keys {
                pending[queue]?.removeAll { ack in
                    guard again.contains(ack.id) else { return false }
                    dropped.append(ack.id)
                    return true
                }
            }
            return dropped
        }
        release(droppedAcks)
        writes.withLock { writes in
            for id in again { writes.stale.formUnion(writes.byID[id] ?? []) }
        }
        logger.warning("""
            jobs fetched again while this process still had an outcome of theirs to write (they were put back in \
            line: this process was taken for dead); those outcomes are dropped, the new runs' stand
            """, metadata: ["jobs": "\(again.sorted().joined(separator: ","))"])
    }

    /// Queues a success for the next batch.
    func succeeded(id: String, queue: String, lease: Lease) {
        hold(id)
        pending.withLock { $0[queue, default: []].append(Ack(id: id, lease: lease)) }
        signalContinuation.yield()
    }

    /// Flushes acks until `finish()` is called and everything pending is written.
    func run() async {
        for await _ in signal {
            await flush()
        }
        // The last acks are tried again for a while (Redis still loading its data, a busy
        // script): given up at once, the pool would return jobs that succeeded to their queue,
        // to run again.
        let deadline = ContinuousClock.now + Self.lastAcksPatience
        await flush()
        while pending.withLock({ !$0.isEmpty }), ContinuousClock.now < deadline { await flush() }
    }

    /// How long the last acks are tried at shutdown.
    static let lastAcksPatience: Duration = .seconds(5)

    /// Stops `run()` after a last flush.
    func finish() { signalContinuation.finish() }

    /// Set when the pool has stopped: outcomes still unwritten are no longer tried (the pool
    /// returned its leftovers, or stayed registered so that another process recovers them).
    private let closed = Atomic<Bool>(false)
    func close() { closed.store(true, ordering: .relaxed) }

    /// Writes every pending ack; on a Redis failure keeps them and tries again, so an outcome
    /// is never lost (the jobs stay in flight, recoverable, until it is written).
    func flush() async {
        let batch = pending.withLock { p -> [String: [Ack]] in
            defer { p.removeAll(keepingCapacity: true) }
            return p
        }
        guard !batch.isEmpty else { return }
        let minute = Int(Clock.nowMillis() / 60_000)
        let queues = Array(batch)
        let invocations = queues.map { queue, acks in
            let keys = QueueKeys(queue: queue, namespace: namespace)
            return QueueScripts.ack.invocation(
                keys: [.string(keys.inflight(processID)), .string(keys.jobs), .string(keys.stats), .string(keys.throughput)],
                arguments: [.int(minute)] + acks.flatMap { [RedisArgument.string($0.id), $0.lease.argument] })
        }
        // A queue's acks are written when its script answered; an error answer (-LOADING while
        // Redis reads its data after a restart, -BUSY, -MISCONF, -NOPERM) wrote nothing, and
        // neither did a call that failed. Acks are safe to send again: one already applied finds
        // nothing to remove.
        var unwritten: [(String, [Ack])] = []
        var failure: (any Error)?
        do {
            let replies = try await redis.runPipelined(invocations)
            for (index, (queue, acks)) in queues.enumerated() {
                do {
                    guard index < replies.count else { throw RedisError.unexpectedReply("no reply to an ack") }
                    // Counted as Redis applied them: an ack of a job this process no longer held
                    // (put back in line while it ran) acknowledges nothing.
                    let applied = try replies[index].unwrapped().int ?? acks.count
                    metrics.processed(queue: queue, count: applied)
                    release(acks.map(\.id))
                } catch {
                    unwritten.append((queue, acks))
                    failure = error
                }
            }
        } catch {
            unwritten = queues
            failure = error
        }
        guard let failure else { return }
        logger.warning("could not record acks; will retry", metadata: ["error": "\(failure)"])
        pending.withLock { p in for (q, acks) in unwritten { p[q, default: []].append(contentsOf: acks) } }
        try? await Task.sleep(for: .milliseconds(200))
        signalContinuation.yield()
    }

    /// Records a failed attempt that will be tried again at `dueMillis`. Returns whether it was
    /// written (see `written`).
    func retry(_ envelope: JobEnvelope, dueMillis: Int64, lease: Lease, logger: Logger) async -> Bool {
        let keys = QueueKeys(queue: envelope.queue, namespace: namespace)
        let applied = await written(envelope.id, logger: logger) {
            try await redis.run(QueueScripts.retry,
                                keys: [.string(keys.inflight(processID)), .string(keys.jobs), .string(keys.schedule),
                                       .string(keys.stats)],
                                arguments: [.string(envelope.id), .raw(try envelope.encoded()), .int64(dueMillis),
                                            lease.argument]).int == 1
        }
        if applied { metrics.failed(queue: envelope.queue) }
        return applied
    }

    /// Puts a job this process took back in its queue's schedule until `dueMillis`, unchanged and
    /// with no attempt counted (a suspect whose lane is taken). Returns whether it was written.
    func putBack(id: String, queue: String, lease: Lease, dueMillis: Int64, logger: Logger) async -> Bool {
        let keys = QueueKeys(queue: queue, namespace: namespace)
        return await written(id, logger: logger) {
            try await redis.run(QueueScripts.putBack, keys: [.string(keys.inflight(processID)), .string(keys.schedule)],
                                arguments: [.string(id), .int64(dueMillis), lease.argument]).int == 1
        }
    }

    /// Moves a job to its queue's dead letters. Returns whether it was written (see `written`).
    func bury(_ envelope: JobEnvelope, lease: Lease, logger: Logger) async -> Bool {
        let keys = QueueKeys(queue: envelope.queue, namespace: namespace)
        let applied = await written(envelope.id, logger: logger) {
            try await redis.run(QueueScripts.bury,
                                keys: [.string(keys.inflight(processID)), .string(keys.jobs), .string(keys.dead),
                                       .string(keys.deadJobs), .string(keys.stats)],
                                arguments: [.string(envelope.id), .raw(try envelope.encoded()),
                                            .int64(Clock.nowMillis()), .int(deadLetterCap), lease.argument]).int == 1
        }
        if applied { metrics.dead(queue: envelope.queue) }
        return applied
    }

    /// Writes job `id`'s failed attempt, trying again until Redis takes it: unwritten, the job
    /// would stay in this process's in-flight hash, run by nobody, for as long as the process
    /// lives. Safe to repeat: the scripts do nothing for a job this process no longer holds.
    /// Meanwhile the job counts as held (not a stray). Gives up once the pool has stopped: its
    /// jobs were returned, or are recovered by another process (at least once, never lost).
    /// Returns whether it was applied: not when `write` says this process no longer held the job
    /// (put back in line while it ran: its other run's outcome stands), nor when given up.
    private func written(_ id: String, logger: Logger, _ write: () async throws -> Bool) async -> Bool {
        hold(id)
        let number = writes.withLock { writes -> UInt64 in
            writes.next += 1
            writes.byID[id, default: []].insert(writes.next)
            return writes.next
        }
        defer {
            release([id])
            writes.withLock { writes in
                writes.byID[id]?.remove(number)
                if writes.byID[id]?.isEmpty == true { writes.byID[id] = nil }
                writes.stale.remove(number)
            }
        }
        var delay = Duration.milliseconds(100)
        // Whether a try that failed may have run in Redis (its answer lost): then nothing to apply
        // on a later try means that one applied it. Not after a refusal or an error reply, which
        // ran nothing.
        var mayHaveApplied = false
        while true {
            // The job was fetched again meanwhile: this outcome is stale (``fetchedAgain(_:)``).
            if writes.withLock({ $0.stale.contains(number) }) { return false }
            do {
                guard try await write() else {
                    if mayHaveApplied { return true }
                    logger.warning("""
                        outcome not recorded: this process no longer holds the job (it was put back in line while it \
                        ran here); the outcome of its other run stands
                        """)
                    return false
                }
                return true
            } catch {
                if closed.load(ordering: .relaxed) {
                    logger.error("could not record job failure; the job is recovered and run again", metadata: ["error": "\(error)"])
                    return false
                }
                switch error as? RedisError {
                case .timeout?, .connectionClosed?, .protocolError?: mayHaveApplied = true
                default: break
                }
                logger.warning("could not record job failure; will retry", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// Returns jobs this process holds to the head of their queues (shutdown, interruption).
    func requeue(ids: [String], queue: String) async throws {
        guard !ids.isEmpty else { return }
        let keys = QueueKeys(queue: queue, namespace: namespace)
        try await redis.run(QueueScripts.requeue,
                            keys: Self.requeueKeys(keys, process: processID),
                            arguments: [.string(keys.prefix)] + ids.map { .string($0) })
    }

    static func requeueKeys(_ keys: QueueKeys, process: String) -> [RedisArgument] {
        [.string(keys.inflight(process)), .string(keys.jobs), .string(keys.ring), .string(keys.stats),
         .string(keys.wake)]
    }
}
