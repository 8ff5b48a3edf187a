import Foundation
import Redis

/// What runs now, for operators (`GET /v1/queues/{queue}/running`, `cityos running`): every job
/// a worker process is running, longest first, with its process, its attempt, when it started and
/// its timeout — Sidekiq's "Busy", Oban's executing jobs. A payout that has run for ten minutes is
/// seen here before anyone asks why the queue is slow.
///
/// Each worker process publishes what it runs with every heartbeat (a third of the heartbeat TTL,
/// 1.7 s by default), in its process hash (`Heartbeat`), so this is what each process ran at its
/// last beat: a job shorter than a beat may not be seen, one that finished since may still be.
/// Reading costs one round trip for all processes and nothing on the jobs' own path.
public struct RunningNow: Sendable {
    public let redis: RedisClient
    public let namespace: String

    public init(redis: RedisClient, namespace: String = "cityos") {
        self.redis = redis
        self.namespace = namespace
    }

    /// The most jobs one process publishes, the longest-running first (its `busy` count in the
    /// status has them all).
    public static let publishedPerProcess = 200

    /// One running job.
    public struct Job: Codable, Sendable, Equatable {
        public var id: String
        public var queue: String
        public var kind: String
        public var tenant: String?
        /// The attempt that runs, from 1.
        public var attempt: Int
        public var maxAttempts: Int
        /// When this attempt started, in ms since the epoch.
        public var startedAt: Int64
        /// The kind's timeout: past it the attempt is cancelled and counts as failed.
        public var timeoutSeconds: Double
        /// The job's latest note of how far it has got (`JobContext.reportProgress`), and when
        /// it came (ms since the epoch); nil for a job that reports none.
        public var progress: String?
        public var progressAt: Int64?
        /// The worker process that runs it (filled in when read).
        public var process: String?
        /// How long it has run, at the time of reading (filled in when read).
        public var runningForSeconds: Double?

        public init(id: String, queue: String, kind: String, tenant: String?, attempt: Int, maxAttempts: Int,
                    startedAt: Int64, timeoutSeconds: Double, progress: String? = nil, progressAt: Int64? = nil) {
            self.id = id
            self.queue = queue
            self.kind = kind
            self.tenant = tenant
            self.attempt = attempt
            self.maxAttempts = maxAttempts
            self.startedAt = startedAt
            self.timeoutSeconds = timeoutSeconds
            self.progress = progress
            self.progressAt = progressAt
        }

        enum CodingKeys: String, CodingKey {
            case id, queue, kind, tenant, attempt, process, progress
            case progressAt = "progress_at"
            case maxAttempts = "max_attempts"
            case startedAt = "started_at"
            case timeoutSeconds = "timeout_seconds"
            case runningForSeconds = "running_for_seconds"
        }
    }

    /// What a process publishes: at most `publishedPerProcess` of `jobs`, the longest-running first.
    public static func published(_ jobs: [Job]) -> String {
        let oldest = jobs.sorted { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }.prefix(publishedPerProcess)
        guard let data = try? JSONEncoder().encode(Array(oldest)) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The jobs of `queue` (nil: of every queue) that run now, longest first: a page of them and
    /// how many there are.
    public func list(queue: String?, offset: Int = 0, limit: Int = 50) async throws -> (total: Int, jobs: [Job]) {
        let all = try await read().filter { queue == nil || $0.queue == queue }
        let (offset, limit) = Paging.clamped(offset: offset, limit: limit)
        return (all.count, Array(all.dropFirst(offset).prefix(limit)))
    }

    /// Every running job any live process published, longest first.
    public func read() async throws -> [Job] {
        let global = GlobalKeys(namespace: namespace)
        let ids = ((try await redis.send("ZRANGE", .string(global.processes), 0, -1).array) ?? []).compactMap(\.string)
        guard !ids.isEmpty else { return [] }
        let replies = try await redis.pipeline(ids.map { RedisCommand("HGET", .string(global.process($0)), "running") })
        var jobs: [Job] = []
        for (process, reply) in zip(ids, replies) { jobs += Self.decode(try reply.unwrapped().bytes, process: process) }
        return jobs.sorted { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }
    }

    /// What one process published at its last beat.
    public func published(by process: String) async throws -> [Job] {
        let key = GlobalKeys(namespace: namespace).process(process)
        return Self.decode(try await redis.send("HGET", .string(key), "running").bytes, process: process)
    }

    /// A process's published jobs with their process and how long each has run. None when the
    /// field is missing: the process has expired (about to be recovered) or predates publishing.
    static func decode(_ bytes: [UInt8]?, process: String) -> [Job] {
        guard let bytes, let published = try? JSONDecoder().decode([Job].self, from: Data(bytes)) else { return [] }
        let now = Clock.nowMillis()
        return published.map { job in
            var job = job
            job.process = process
            job.runningForSeconds = Double(max(0, now - job.startedAt)) / 1000
            return job
        }
    }
}
