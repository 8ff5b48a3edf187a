import Redis

/// What operators see: per queue, how much work waits, runs, is delayed or dead, how old the
/// oldest waiting job is, and the counters; and the live worker processes.
public struct QueueStatus: Codable, Sendable {
    public struct Queue: Codable, Sendable {
        public var name: String
        public var ready: Int
        public var inFlight: Int
        public var delayed: Int
        public var dead: Int
        /// Dead letters dropped by the cap (oldest first), never silently.
        public var deadDropped: Int
        public var oldestReadyAgeSeconds: Double?
        public var tenantsWaiting: Int
        public var enqueued: Int
        public var processed: Int
        public var failed: Int
        public var retried: Int
        public var recovered: Int
        /// Jobs processed in the last full minute (all worker processes together).
        public var processedLastMinute: Int
        /// Live worker processes that take this queue. 0 while jobs wait means nothing will run
        /// them: no process was started for the queue (or a job was enqueued to a name no process
        /// serves). Delayed jobs count too: only a worker of the queue makes them ready when due.
        public var workers = 0
        /// Paused by an operator (`QueuePause`): no worker process takes a new job from it.
        public var paused = false
        /// When it was paused (ms since the epoch), and why, while it is paused.
        public var pausedAt: Int64?
        public var pauseReason: String?
        /// Jobs an operator cancelled before they started (`JobCancel`); they are among the dead.
        public var cancelled = 0
        /// How long the longest-running job of the queue has run, as the worker processes last
        /// published what they run (`RunningNow`); nil when none runs one.
        public var longestRunningSeconds: Double?

        /// Its pause, as `QueuePause` reports it.
        public var pause: QueuePause.State {
            QueuePause.State(queue: name, paused: paused, pausedAt: pausedAt, reason: pauseReason)
        }

        /// Jobs wait (ready, delayed until due, or held by a worker process that died and that no
        /// live one has recovered yet) and no live worker process takes the queue.
        public var isStranded: Bool { ready + delayed + inFlight > 0 && workers == 0 }

        enum CodingKeys: String, CodingKey {
            case name, ready, delayed, dead, enqueued, processed, failed, retried, recovered, workers, paused, cancelled
            case pausedAt = "paused_at"
            case pauseReason = "pause_reason"
            case processedLastMinute = "processed_last_minute"
            case inFlight = "in_flight"
            case deadDropped = "dead_dropped"
            case oldestReadyAgeSeconds = "oldest_ready_age_seconds"
            case tenantsWaiting = "tenants_waiting"
            case longestRunningSeconds = "longest_running_seconds"
        }
    }

    public struct Process: Codable, Sendable {
        public var id: String
        public var host: String
        public var pid: Int
        public var queues: String
        public var concurrency: Int
        public var busy: Int
        public var startedAt: Int64
        public var lastBeatAgeSeconds: Double

        enum CodingKeys: String, CodingKey {
            case id, host, pid, queues, concurrency, busy
            case startedAt = "started_at"
            case lastBeatAgeSeconds = "last_beat_age_seconds"
        }
    }

    public var queues: [Queue]
    public var processes: [Process]
    public var generatedAt: Int64
    /// The latest result of each platform check (`money.reconcile`, …); see `StatusChecks`.
    public var checks: [StatusCheck]?

    enum CodingKeys: String, CodingKey {
        case queues, processes, checks
        case generatedAt = "generated_at"
    }

    /// Reads the status of every known queue and live process.
    public static func read(redis: RedisClient, namespace: String = "cityos") async throws -> QueueStatus {
        let global = GlobalKeys(namespace: namespace)
        let names = ((try await redis.send("SMEMBERS", .string(global.queues)).array) ?? []).compactMap(\.string).sorted()
        let processIDs = ((try await redis.send("ZRANGE", .string(global.processes), 0, -1).array) ?? []).compactMap(\.string)
        let now = Clock.nowMillis()
        var queues: [Queue] = []
        for name in names {
            queues.append(try await readQueue(name, processes: processIDs, redis: redis, namespace: namespace, now: now))
        }
        var processes: [Process] = []
        var running: [RunningNow.Job] = []
        let hashes = try await redis.pipeline(processIDs.map { RedisCommand("HGETALL", .string(global.process($0))) })
        for (id, hash) in zip(processIDs, hashes) {
            let fields = (try hash.unwrapped().array ?? []).compactMap(\.string)
            guard !fields.isEmpty else { continue }   // expired: about to be recovered
            var info: [String: String] = [:]
            for i in stride(from: 0, to: fields.count - 1, by: 2) { info[fields[i]] = fields[i + 1] }
            let beat = Int64(info["beat_at"] ?? "") ?? now
            processes.append(Process(id: id, host: info["host"] ?? "", pid: Int(info["pid"] ?? "") ?? 0,
                                     queues: info["queues"] ?? "", concurrency: Int(info["concurrency"] ?? "") ?? 0,
                                     busy: Int(info["busy"] ?? "") ?? 0, startedAt: Int64(info["started_at"] ?? "") ?? 0,
                                     lastBeatAgeSeconds: Double(now - beat) / 1000))
            running += RunningNow.decode(info["running"].map { Array($0.utf8) }, process: id)
        }
        let served = Self.processCounts(processes.map(\.queues))
        for index in queues.indices { queues[index].workers = served[queues[index].name] ?? 0 }
        for job in running {
            guard let index = queues.firstIndex(where: { $0.name == job.queue }), let seconds = job.runningForSeconds
            else { continue }
            queues[index].longestRunningSeconds = max(queues[index].longestRunningSeconds ?? 0, seconds)
        }
        let checks = try await StatusChecks(redis: redis, namespace: namespace).read(nowMillis: now)
        return QueueStatus(queues: queues, processes: processes, generatedAt: now, checks: checks)
    }

    /// How many live worker processes take `queue` — what an enqueue to it can warn about: with
    /// none, the job waits until one starts (a queue name no `cityos work --queues` lists, say).
    public static func liveWorkers(taking queue: String, redis: RedisClient, namespace: String = "cityos") async throws -> Int {
        let global = GlobalKeys(namespace: namespace)
        let ids = ((try await redis.send("ZRANGE", .string(global.processes), 0, -1).array) ?? []).compactMap(\.string)
        guard !ids.isEmpty else { return 0 }
        let replies = try await redis.pipeline(ids.map { RedisCommand("HGET", .string(global.process($0)), "queues") })
        // A process whose hash has expired (no `queues`) is dead, about to be recovered.
        return processCounts(replies.compactMap(\.string))[queue] ?? 0
    }

    /// What an enqueue to `queue` tells its caller (`POST /v1/jobs`, `cityos enqueue`) when no live
    /// worker process takes it; nil when one does, or when the lookup fails (the job is stored
    /// either way).
    public static func unservedWarning(for queue: String, redis: RedisClient, namespace: String = "cityos") async -> String? {
        guard let workers = try? await liveWorkers(taking: queue, redis: redis, namespace: namespace), workers == 0 else {
            return nil
        }
        return "no live worker process takes queue '\(queue)': the job waits until one does (`cityos work --queues \(queue):1`)"
    }

    /// Per queue name, how many processes take it, from each process's `queues` (`name:weight,…`).
    static func processCounts(_ queueLists: [String]) -> [String: Int] {
        var counts: [String: Int] = [:]
        for queues in queueLists {
            let names = Set(queues.split(separator: ",").compactMap { $0.split(separator: ":").first.map(String.init) })
            for name in names { counts[name, default: 0] += 1 }
        }
        return counts
    }

    private static func readQueue(_ name: String, processes: [String], redis: RedisClient,
                                  namespace: String, now: Int64) async throws -> Queue {
        let keys = QueueKeys(queue: name, namespace: namespace)
        let tenants = ((try await redis.send("LRANGE", .string(keys.ring), 0, -1).array) ?? []).compactMap(\.string)
        var commands = [
            RedisCommand("ZCARD", .string(keys.schedule)),
            RedisCommand("ZCARD", .string(keys.dead)),
            RedisCommand("HGETALL", .string(keys.stats)),
            RedisCommand("HGET", .string(keys.throughput), .int(Int(now / 60_000) - 1)),
            RedisCommand("HGETALL", .string(keys.paused)),
        ]
        commands += tenants.map { RedisCommand("LLEN", .string(keys.tenantList($0))) }
        commands += tenants.map { RedisCommand("LINDEX", .string(keys.tenantList($0)), 0) }
        commands += processes.map { RedisCommand("HLEN", .string(keys.inflight($0))) }
        let r = try await redis.pipeline(commands)
        let t = tenants.count
        let lastMinute = r[3].int ?? 0
        let stats = (r[2].array ?? []).compactMap(\.string)
        var counters: [String: Int] = [:]
        for i in stride(from: 0, to: stats.count - 1, by: 2) { counters[stats[i]] = Int(stats[i + 1]) ?? 0 }
        let pause = QueuePause.state(queue: name, fields: r[4])
        let ready = r[5..<(5 + t)].reduce(0) { $0 + ($1.int ?? 0) }
        let heads = r[(5 + t)..<(5 + 2 * t)].compactMap(\.string)
        let inFlight = r[(5 + 2 * t)...].reduce(0) { $0 + ($1.int ?? 0) }
        var oldest: Double?
        if !heads.isEmpty {
            let payloads = try await redis.send(RedisCommand("HMGET", [.string(keys.jobs)] + heads.map { .string($0) })).array ?? []
            // The header scanner skips the arguments (a webhook's whole event) that a decode would build.
            // A job has been ready since it was due (a retry, a delayed or replayed job), not since
            // it was first enqueued.
            let times = payloads.compactMap { payload in
                payload.bytes.flatMap { try? EnvelopeScanner.scan($0).header }.map { max($0.enqueuedAt, $0.dueAt ?? 0) }
            }
            if let first = times.min() { oldest = Double(max(0, now - first)) / 1000 }
        }
        return Queue(name: name, ready: ready, inFlight: inFlight, delayed: r[0].int ?? 0, dead: r[1].int ?? 0,
                     deadDropped: counters["dead_dropped"] ?? 0, oldestReadyAgeSeconds: oldest,
                     tenantsWaiting: t, enqueued: counters["enqueued"] ?? 0, processed: counters["processed"] ?? 0,
                     failed: counters["failed"] ?? 0, retried: counters["retried"] ?? 0,
                     recovered: counters["recovered"] ?? 0, processedLastMinute: lastMinute,
                     paused: pause.paused, pausedAt: pause.pausedAt, pauseReason: pause.reason,
                     cancelled: counters["cancelled"] ?? 0)
    }
}
