import Foundation
import Redis

/// Where one job is now, for operators (`GET /v1/queues/{queue}/jobs/{id}`, `cityos job`): ready,
/// scheduled (delayed, or waiting out a retry's backoff), in flight on a worker process, or dead.
/// A job that succeeded is deleted, so it is not found, and neither is a deleted dead letter. Read
/// in two pipelined round trips, not atomically: a job that moves at that instant may be shown in
/// the state it just left.
public struct JobLookup: Sendable {
    public let redis: RedisClient
    public let namespace: String

    public init(redis: RedisClient, namespace: String = "cityos") {
        self.redis = redis
        self.namespace = namespace
    }

    public enum State: String, Codable, Sendable {
        case ready, scheduled, dead
        case inFlight = "in_flight"
    }

    /// One job and where it is.
    public struct Found: Codable, Sendable {
        public let id: String
        public let queue: String
        public let state: State
        /// When a scheduled job is due, in ms since the epoch.
        public let dueAt: Int64?
        /// When a dead job died, in ms since the epoch.
        public let diedAt: Int64?
        /// The worker process that holds an in-flight job.
        public let process: String?
        /// When an in-flight job's attempt started, in ms since the epoch, once its process has
        /// published it (`RunningNow`: with its next heartbeat).
        public var startedAt: Int64?
        /// The job as stored: its kind, arguments, attempts and error history.
        public let envelope: JobEnvelope?
        /// The stored text when it is not a readable envelope.
        public let raw: String?

        enum CodingKeys: String, CodingKey {
            case id, queue, state, process, envelope, raw
            case dueAt = "due_at", diedAt = "died_at", startedAt = "started_at"
        }
    }

    /// What to tell someone who looked for a job `find` did not find; `droppedAt`: when its dead
    /// letter was dropped by the cap, if it was (``droppedAt(queue:id:)``).
    public static func notFound(queue: String, id: String, droppedAt: Int64? = nil) -> String {
        if let droppedAt {
            let when = Date(timeIntervalSince1970: Double(droppedAt) / 1000).formatted(.iso8601)
            return "no job \(id) in queue \(queue) now: it died, and its dead letter was dropped at \(when) by the cap "
                + "(queues.dead_letter_cap; dead_dropped in the status): its arguments and errors are gone "
                + "(had the id been enqueued again since, that job may have succeeded)"
        }
        return "no job \(id) in queue \(queue) now: a job that succeeded is deleted, and so is a dead letter once deleted "
            + "(webhook events keep their outcome in the webhook inbox)"
    }

    /// When the dead letter of job `id` was dropped by the cap, if it was and the queue still
    /// remembers it (the newest ``QueueKeys/droppedKept`` dropped ids).
    public func droppedAt(queue: String, id: String) async throws -> Int64? {
        let score = try await redis.send("ZSCORE", .string(QueueKeys(queue: queue, namespace: namespace).deadDropped), .string(id))
        return score.string.flatMap(Double.init).map { Int64($0) }
    }

    /// The job `id` of `queue`, or nil when the queue holds no such job now (see ``notFound(queue:id:)``).
    public func find(queue: String, id: String) async throws -> Found? {
        let keys = QueueKeys(queue: queue, namespace: namespace)
        let replies = try await redis.pipeline([
            RedisCommand("HGET", .string(keys.jobs), .string(id)),
            RedisCommand("ZSCORE", .string(keys.schedule), .string(id)),
            RedisCommand("HGET", .string(keys.deadJobs), .string(id)),
            RedisCommand("ZSCORE", .string(keys.dead), .string(id)),
            RedisCommand("ZRANGE", .string(GlobalKeys(namespace: namespace).processes), .int(0), .int(-1)),
        ])
        func found(_ state: State, _ payload: [UInt8], dueAt: Int64? = nil, diedAt: Int64? = nil, process: String? = nil) -> Found {
            let stored = StoredEnvelope.read(payload)
            return Found(id: id, queue: queue, state: state, dueAt: dueAt, diedAt: diedAt, process: process,
                         envelope: stored.envelope, raw: stored.raw)
        }
        if let payload = try replies[0].unwrapped().bytes {
            if let due = try replies[1].unwrapped().string {
                return found(.scheduled, payload, dueAt: Int64(Double(due) ?? 0))
            }
            let processes = try replies[4].unwrapped().array?.compactMap(\.string) ?? []
            if !processes.isEmpty {
                let held = try await redis.pipeline(processes.map { RedisCommand("HEXISTS", .string(keys.inflight($0)), .string(id)) })
                for (process, reply) in zip(processes, held) where try reply.unwrapped().int == 1 {
                    var job = found(.inFlight, payload, process: process)
                    job.startedAt = try await RunningNow(redis: redis, namespace: namespace)
                        .published(by: process).first { $0.id == id }?.startedAt
                    return job
                }
            }
            return found(.ready, payload)
        }
        if let payload = try replies[2].unwrapped().bytes {
            let died = try replies[3].unwrapped().string
            return found(.dead, payload, diedAt: died.map { Int64(Double($0) ?? 0) })
        }
        return nil
    }
}
