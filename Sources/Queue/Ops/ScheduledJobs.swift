import Redis

/// What waits in a queue's schedule, for operators (`GET /v1/queues/{queue}/scheduled`,
/// `cityos scheduled`): retries waiting out their backoff, with the error that sent them there,
/// and delayed jobs, soonest first; and "run now" for one of them (`POST …/jobs/{id}/run-now`,
/// `cityos job QUEUE ID --run-now`), as Sidekiq's "Retry Now": when an outside service is back,
/// its failed calls need not wait out their backoff.
public struct ScheduledJobs: Sendable {
    public let redis: RedisClient
    public let namespace: String

    public init(redis: RedisClient, namespace: String = "cityos") {
        self.redis = redis
        self.namespace = namespace
    }

    /// One scheduled job: when it is due, and the job as stored (its attempts and errors tell a
    /// retry from a delayed job).
    public struct Entry: Codable, Sendable {
        public let id: String
        public let dueAt: Int64
        public let envelope: JobEnvelope?
        /// The stored text when it is not a readable envelope.
        public let raw: String?

        /// A failed attempt waits out its backoff (rather than a job enqueued with a delay).
        public var isRetry: Bool { !(envelope?.errors.isEmpty ?? true) }

        enum CodingKeys: String, CodingKey {
            case id, envelope, raw
            case dueAt = "due_at"
        }
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case notFound(queue: String, id: String)
        case notScheduled(queue: String, id: String, state: JobLookup.State)

        public var description: String {
            switch self {
            case .notFound(let queue, let id):
                return JobLookup.notFound(queue: queue, id: id)
            case .notScheduled(let queue, let id, let state):
                return "job \(id) of queue \(queue) is \(state.rawValue.replacingOccurrences(of: "_", with: " ")), not scheduled"
                    + (state == .dead ? " (replay it with `cityos dead retry \(queue) \(id)`)" : "")
            }
        }
    }

    /// Scheduled jobs, soonest first; from `offset`, or right after the cursor `after`.
    public func list(queue: String, offset: Int = 0, limit: Int = 50,
                     after: PageCursor? = nil) async throws -> (total: Int, entries: [Entry]) {
        let keys = QueueKeys(queue: queue, namespace: namespace)
        let page = try await TimedJobPage.read(redis: redis, sortedSet: keys.schedule, hash: keys.jobs, offset: offset,
                                               limit: limit, newestFirst: false, after: after)
        return (page.total, page.items.map { item in
            let stored = StoredEnvelope.read(item.payload)
            return Entry(id: item.id, dueAt: item.at, envelope: stored.envelope, raw: stored.raw)
        })
    }

    /// Makes scheduled job `id` due now by Redis's clock (`QueueScripts.runNow`): the next promotion
    /// (every worker process of the queue runs one every 200 ms) puts it in line, and its attempts
    /// go on counting as before.
    /// - Throws: `Failure` when it is not scheduled; `RedisError` when Redis did not answer.
    public func runNow(queue: String, id: String) async throws {
        let keys = QueueKeys(queue: queue, namespace: namespace)
        let changed = try await redis.run(QueueScripts.runNow, keys: [.string(keys.schedule)], arguments: [.string(id)])
        if changed.int == 1 { return }
        guard let found = try await JobLookup(redis: redis, namespace: namespace).find(queue: queue, id: id) else {
            throw Failure.notFound(queue: queue, id: id)
        }
        if found.state != .scheduled { throw Failure.notScheduled(queue: queue, id: id, state: found.state) }
    }
}
