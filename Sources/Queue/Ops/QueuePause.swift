import Redis

/// An operator's brake on one queue, as Sidekiq's, BullMQ's and Oban's: while a queue is paused,
/// no worker process takes a new job from it. Everything else goes on: jobs in flight finish (or
/// retry), enqueues are accepted and wait, delayed jobs and retries become ready when due, and the
/// dead letters can be replayed into it. For an incident: a payout bug, an outside service down.
///
/// The flag is a hash in Redis (`QueueKeys.paused`) that the fetch script reads on every fetch, so
/// every worker process obeys it from its next fetch on, and it outlives restarts. A queue can be
/// paused before it has ever been used (the daily payouts, before their schedule fires).
public struct QueuePause: Sendable {
    public let redis: RedisClient
    public let namespace: String

    public init(redis: RedisClient, namespace: String = "cityos") {
        self.redis = redis
        self.namespace = namespace
    }

    /// Whether a queue is paused, since when (ms since the epoch) and why.
    public struct State: Codable, Sendable, Equatable {
        public var queue: String
        public var paused: Bool
        public var pausedAt: Int64?
        public var reason: String?

        public init(queue: String, paused: Bool, pausedAt: Int64? = nil, reason: String? = nil) {
            self.queue = queue
            self.paused = paused
            self.pausedAt = pausedAt
            self.reason = reason
        }

        enum CodingKeys: String, CodingKey {
            case queue, paused, reason
            case pausedAt = "paused_at"
        }
    }

    /// Pauses `queue`. Pausing a paused queue keeps the time it was first paused and replaces the
    /// reason when one is given.
    /// - Throws: `OperatorReason.TooLong`, or `RedisError` when Redis did not answer.
    public func pause(queue: String, reason: String? = nil) async throws -> State {
        let reason = try OperatorReason.checked(reason)
        let keys = QueueKeys(queue: queue, namespace: namespace)
        // Known to the status from now on, even before its first job.
        _ = try await redis.send("SADD", .string(GlobalKeys(namespace: namespace).queues), .string(queue)).unwrapped()
        var arguments: [RedisArgument] = [.int64(Clock.nowMillis())]
        if let reason { arguments.append(.string(reason)) }
        _ = try await redis.run(QueueScripts.pause, keys: [.string(keys.paused)], arguments: arguments)
        return try await state(queue: queue)
    }

    /// Lifts the pause on `queue`; idle worker processes take its waiting jobs at once. Resuming
    /// a queue that is not paused changes nothing.
    public func resume(queue: String) async throws -> State {
        let keys = QueueKeys(queue: queue, namespace: namespace)
        _ = try await redis.run(QueueScripts.resume, keys: [.string(keys.paused), .string(keys.ring), .string(keys.wake)],
                                arguments: []).unwrapped()
        return State(queue: queue, paused: false)
    }

    /// Whether `queue` is paused now.
    public func state(queue: String) async throws -> State {
        try await states(queues: [queue])[0]
    }

    /// Whether each of `queues` is paused now, in one round trip.
    public func states(queues: [String]) async throws -> [State] {
        let replies = try await redis.pipeline(queues.map {
            RedisCommand("HGETALL", .string(QueueKeys(queue: $0, namespace: namespace).paused))
        })
        return try zip(queues, replies).map { queue, reply in try Self.state(queue: queue, fields: reply.unwrapped()) }
    }

    /// The state from an `HGETALL` of the queue's pause hash (empty: not paused).
    static func state(queue: String, fields reply: RedisReply) -> State {
        let fields = (reply.array ?? []).compactMap(\.string)
        guard !fields.isEmpty else { return State(queue: queue, paused: false) }
        var values: [String: String] = [:]
        for i in stride(from: 0, to: fields.count - 1, by: 2) { values[fields[i]] = fields[i + 1] }
        return State(queue: queue, paused: true, pausedAt: values["at"].flatMap { Int64($0) }, reason: values["reason"])
    }
}
