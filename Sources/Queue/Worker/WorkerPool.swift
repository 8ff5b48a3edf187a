import Logging
import Redis
import Synchronization

/// A worker process's pool: fetches jobs reliably from its queues (by weight), runs up to
/// `concurrency` at once, records every outcome, heartbeats, recovers dead processes' jobs,
/// promotes due retries, and on `stop()` shuts down without losing or stranding a job.
public final class WorkerPool: Sendable {
    public let configuration: WorkerConfiguration
    public let metrics: WorkerMetrics
    private let redis: RedisClient
    private let logger: Logger
    private let slots: Slots
    private let running = RunningJobs()
    private let recorder: OutcomeRecorder
    private let runner: JobRunner
    let heartbeat: Heartbeat
    private let stopping = Atomic<Bool>(false)
    private let wakeConnection = Mutex<RedisConnection?>(nil)

    private let observer: JobObserver?
    /// This process's heartbeat key, which every fetch checks.
    private let processKey: String
    /// The last fetch's lease (`Lease`).
    private let leases = Atomic<UInt64>(0)

    public init(redis: RedisClient, registry: JobRegistry, configuration: WorkerConfiguration,
                metrics: WorkerMetrics = WorkerMetrics(), logger: Logger, observer: JobObserver? = nil) {
        self.observer = observer
        var logger = logger
        logger[metadataKey: "process"] = "\(configuration.processID)"
        self.configuration = configuration
        self.processKey = GlobalKeys(namespace: configuration.namespace).process(configuration.processID)
        self.metrics = metrics
        self.redis = redis
        self.logger = logger
        self.slots = Slots(capacity: configuration.concurrency)
        self.recorder = OutcomeRecorder(redis: redis, processID: configuration.processID,
                                        namespace: configuration.namespace,
                                        deadLetterCap: configuration.deadLetterCap, metrics: metrics, logger: logger)
        self.runner = JobRunner(registry: registry, recorder: recorder, running: running, slots: slots,
                                suspects: SuspectLane(redis: redis, namespace: configuration.namespace,
                                                      processID: configuration.processID, logger: logger),
                                logger: logger, observer: observer,
                                unknownKind: (configuration.unknownKindPatience, configuration.unknownKindRetake))
        self.heartbeat = Heartbeat(redis: redis, configuration: configuration, slots: slots, running: running,
                                   recorder: recorder, startedAt: Clock.nowMillis(), logger: logger)
    }

    /// Works until `stop()`; then finishes or returns what it holds and returns. Waits for Redis
    /// first if it does not answer yet (`registerWhenRedisAnswers`).
    public func run() async throws {
        guard try await registerWhenRedisAnswers() else { return }
        let recorderTask = Task { await recorder.run() }
        let promoter = Promoter(redis: redis, queues: configuration.queues.map(\.name),
                                namespace: configuration.namespace, interval: configuration.promoteInterval,
                                logger: logger)
        logger.info("worker started", metadata: [
            "queues": "\(configuration.queues.map { "\($0.name):\($0.weight)" }.joined(separator: ","))",
            "concurrency": "\(configuration.concurrency)",
        ])
        await warnAboutPausedQueues()
        // Beats until this process's jobs are all acknowledged or returned; then ended, and waited
        // for, before the deregistration: a beat after it would register the process again, for
        // the others to take for dead a TTL later.
        let beating = Task { await self.heartbeat.run() }
        await withDiscardingTaskGroup { group in
            group.addTask { await promoter.run() }
            group.addTask { await self.watchTimeouts() }
            await fetchLoop()
            await drain()
            recorder.finish()
            await recorderTask.value
            let returned = await returnLeftovers()
            recorder.close()
            beating.cancel()
            await beating.value
            if returned {
                do { try await heartbeat.deregister() } catch {
                    logger.warning("could not deregister", metadata: ["error": "\(error)"])
                }
            } else {
                // Still registered: once its heartbeat key expires, another process recovers
                // what it could not return. Deregistered, its jobs would be in no one's sight.
                logger.error("""
                    could not return every job this process holds; it stays registered so that another worker \
                    recovers them when its heartbeat expires
                    """)
            }
            group.cancelAll()
        }
        logger.info("worker stopped", metadata: ["processed": "\(metrics.totalProcessed)"])
    }

    /// The first heartbeat, tried again while Redis cannot be reached or is still loading its data
    /// (a worker started alongside Redis, or before it): exiting at once would make its supervisor
    /// restart it in a loop. Any other refusal (a wrong password) throws, naming it. False when
    /// `stop()` came first: nothing was taken, nothing to return.
    private func registerWhenRedisAnswers() async throws -> Bool {
        var wait: Duration = .milliseconds(200)
        var told = false
        while !isStopping {
            do {
                try await heartbeat.beat(first: true)
                if told { logger.info("Redis answers: worker registered") }
                return true
            } catch let error as RedisError where error.isConnectionFailure || error.isLoading {
                if !told {
                    logger.warning("waiting for Redis to register this worker", metadata: ["error": "\(error)"])
                    told = true
                }
                try? await Task.sleep(for: wait)   // a backoff between tries, not a wait for an event
                wait = min(wait * 2, .seconds(5))
            }
        }
        return false
    }

    /// Asks the pool to stop taking jobs and shut down (SIGTERM, SIGINT). Returns at once.
    public func stop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        logger.info("worker stopping: no new jobs; running jobs may finish",
                    metadata: ["grace_seconds": "\(configuration.shutdownGrace.seconds)"])
        slots.stopFetching()
        wakeConnection.withLock { $0?.close() }
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// Says at start which of its queues are paused, so that an operator who starts a worker and
    /// sees nothing run knows why.
    private func warnAboutPausedQueues() async {
        let pauses = QueuePause(redis: redis, namespace: configuration.namespace)
        let states = (try? await pauses.states(queues: configuration.queues.map(\.name))) ?? []
        for state in states where state.paused {
            logger.warning("queue is paused: no job is taken from it until it is resumed",
                           metadata: ["queue": "\(state.queue)", "reason": "\(state.reason ?? "")",
                                      "paused_at": "\(state.pausedAt ?? 0)"])
        }
    }

    // MARK: Fetching

    private func fetchLoop() async {
        let want = min(configuration.fetchBatch, configuration.concurrency)
        let lowWater = max(1, want / 2)
        while !isStopping {
            await slots.waitForFree(lowWater, fetcher: true)
            if isStopping { break }
            let free = min(want, slots.capacity - slots.busy)
            do {
                if try await fetchOnce(count: free) == 0 { await waitForWork() }
            } catch {
                logger.warning("fetch failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// Tries the queues in weighted random order; starts what the first non-empty one gives.
    private func fetchOnce(count: Int) async throws -> Int {
        for queue in weightedOrder() {
            let keys = QueueKeys(queue: queue, namespace: configuration.namespace)
            let lease = Lease(leases.add(1, ordering: .relaxed).newValue)
            let reply = try await redis.run(
                QueueScripts.fetch,
                keys: [.string(keys.ring), .string(keys.jobs), .string(keys.inflight(configuration.processID)),
                       .string(keys.wake), .string(keys.paused), .string(processKey)],
                arguments: [.string(keys.prefix), .int(count), lease.argument])
            let items = reply.array ?? []
            guard items.count >= 2 else { continue }
            recorder.fetchedAgain(stride(from: 0, to: items.count - 1, by: 2).compactMap { items[$0].string })
            slots.take(items.count / 2)
            for i in stride(from: 0, to: items.count - 1, by: 2) {
                runner.start(id: items[i].string ?? "", queue: queue, payload: items[i + 1].bytes ?? [], lease: lease)
            }
            return items.count / 2
        }
        return 0
    }

    /// Sidekiq's weighted order: each queue drawn in proportion to its weight, each once.
    private func weightedOrder() -> [String] {
        let queues = configuration.queues
        if queues.count == 1 { return [queues[0].name] }
        var bag = queues.flatMap { q in Array(repeating: q.name, count: q.weight) }
        bag.shuffle()
        var seen = Set<String>()
        return bag.filter { seen.insert($0).inserted }
    }

    /// Sleeps until a queue signals new work (or a second passes), without polling.
    /// BLPOP over several queues' wake keys assumes those queues share one Redis server.
    private func waitForWork() async {
        do {
            let connection = try await wakeConnectionOrConnect()
            let keys = configuration.queues.map { RedisArgument.string(QueueKeys(queue: $0.name, namespace: configuration.namespace).wake) }
            _ = try await connection.send(RedisCommand("BLPOP", keys + ["1"]), timeout: .seconds(3))
        } catch {
            wakeConnection.withLock { $0 = nil }
            if !isStopping { try? await Task.sleep(for: .milliseconds(200)) }
        }
    }

    private func wakeConnectionOrConnect() async throws -> RedisConnection {
        if let existing = wakeConnection.withLock({ $0 }), existing.isActive { return existing }
        let connection = try await redis.dedicatedConnection()
        wakeConnection.withLock { $0 = connection }
        if isStopping { connection.close() }
        return connection
    }

    // MARK: Timeouts and shutdown

    /// Cancels each run past its deadline. Its outcome (a timeout) is recorded when its handler
    /// returns; until then it holds its slot, so that its retry never runs beside it, unless it is
    /// given up on (``WorkerConfiguration/abandonGrace`` later).
    private func watchTimeouts() async {
        while !Task.isCancelled {
            for entry in running.markOverdue(now: .now) {
                logger.warning("job past its timeout: cancelled; retried once its handler returns (or is given up on)", metadata: [
                    "job_id": "\(entry.header.id)", "kind": "\(entry.header.kind)", "timeout": "\(entry.timeout)"])
            }
            for entry in running.claimAbandoned(now: .now, grace: configuration.abandonGrace) {
                logger.error("""
                    job's handler has not returned long after its timeout: given up on, its slot given back and the job \
                    retried; if the handler is still working, the job may run twice
                    """, metadata: ["job_id": "\(entry.header.id)", "kind": "\(entry.header.kind)",
                                    "timeout": "\(entry.timeout)"])
                Task { await runner.abandoned(entry) }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Lets running jobs finish within the grace period, then cancels the rest and returns
    /// them to their queues (an interruption is not a failed attempt).
    private func drain() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                try? await Task.sleep(for: self.configuration.shutdownGrace)
                self.slots.wakeWaiter()
            }
            await slots.waitForFree(slots.capacity)
            group.cancelAll()
        }
        let claimed = running.claimAll()
        await recordTimeouts(claimed.filter(\.overdue))
        let interrupted = claimed.filter { !$0.overdue }
        guard !interrupted.isEmpty else { return }
        let byQueue = Dictionary(grouping: interrupted, by: { $0.header.queue })
        for (queue, entries) in byQueue {
            do {
                try await recorder.requeue(ids: entries.map(\.header.id), queue: queue)
                logger.notice("returned interrupted jobs to their queue", metadata: ["queue": "\(queue)", "jobs": "\(entries.count)"])
            } catch {
                logger.error("could not return interrupted jobs; they will be recovered", metadata: ["error": "\(error)"])
            }
            for entry in entries {
                observer?(.interrupted(entry.header))
                slots.release()
            }
        }
    }

    /// Records the timeouts of runs shutdown's grace period ended on, waiting for them at most
    /// ``OutcomeRecorder/lastAcksPatience``: with Redis away a write is tried until the recorder
    /// closes, and the shutdown must go on. One unwritten then is returned with the leftovers.
    private func recordTimeouts(_ overdue: [RunningJobs.Entry]) async {
        guard !overdue.isEmpty else { return }
        let (runner, recorder) = (self.runner, self.recorder)
        await withTaskGroup(of: Bool.self) { group in
            for entry in overdue { group.addTask { await runner.abandoned(entry); return true } }
            group.addTask {
                try? await Task.sleep(for: OutcomeRecorder.lastAcksPatience)
                if !Task.isCancelled { recorder.close() }   // the writes give up at their next try
                return false
            }
            var left = overdue.count
            while left > 0, let written = await group.next() {
                if written { left -= 1 }
            }
            group.cancelAll()
        }
    }

    /// Anything still in this process's in-flight hashes (an outcome that could not be
    /// written) goes back to its queue before the process leaves. Returns false if a queue's
    /// could not be returned.
    private func returnLeftovers() async -> Bool {
        var returned = true
        for queue in configuration.queues.map(\.name) {
            let keys = QueueKeys(queue: queue, namespace: configuration.namespace)
            do {
                try await redis.run(QueueScripts.requeue,
                                    keys: OutcomeRecorder.requeueKeys(keys, process: configuration.processID),
                                    arguments: [.string(keys.prefix)])
            } catch {
                returned = false
                logger.error("could not return leftover jobs; they will be recovered",
                             metadata: ["queue": "\(queue)", "error": "\(error)"])
            }
        }
        return returned
    }
}
