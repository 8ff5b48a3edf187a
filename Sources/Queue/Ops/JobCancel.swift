import Redis

/// Cancelling one job that has not started (`POST /v1/queues/{queue}/jobs/{id}/cancel`,
/// `cityos job QUEUE ID --cancel`): a ready or scheduled job is taken out of line and becomes a
/// dead letter, with "cancelled by an operator" and the reason in its error history. Nothing is
/// deleted: a cancellation made by mistake is undone with `cityos dead retry`. A job a worker
/// process holds cannot be cancelled (it may be halfway through a payout); pausing its queue keeps
/// the next ones from starting.
public struct JobCancel: Sendable {
    public let redis: RedisClient
    public let namespace: String

    public init(redis: RedisClient, namespace: String = "cityos") {
        self.redis = redis
        self.namespace = namespace
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case notFound(queue: String, id: String)
        case running(queue: String, id: String, process: String?)
        case alreadyDead(queue: String, id: String)
        /// Still waiting after every try: it kept changing, or its payload is unreadable and not
        /// in the line the cancellation looked in.
        case notTaken(queue: String, id: String)

        public var description: String {
            switch self {
            case .notFound(let queue, let id):
                return JobLookup.notFound(queue: queue, id: id)
            case .running(let queue, let id, let process):
                return "job \(id) of queue \(queue) is running" + (process.map { " on \($0)" } ?? "")
                    + ": a job that has started cannot be cancelled (pausing the queue keeps the next ones from starting)"
            case .alreadyDead(let queue, let id):
                return "job \(id) is already a dead letter of queue \(queue) (delete it with `cityos dead delete \(queue) \(id)`)"
            case .notTaken(let queue, let id):
                return "job \(id) of queue \(queue) could not be taken out of line; see where it is with `cityos job \(queue) \(id)`"
            }
        }
    }

    /// What cancelling a job puts in its error history.
    public static func message(reason: String?) -> String {
        "cancelled by an operator" + (reason.map { ": \($0)" } ?? "")
    }

    /// Whether `record` is a cancellation (what `message(reason:)` writes).
    public static func isCancellation(_ record: JobErrorRecord) -> Bool {
        record.message == message(reason: nil) || record.message.hasPrefix(message(reason: nil) + ": ")
    }

    /// Cancels job `id` of `queue` if it is ready or scheduled; returns the dead letter it became.
    /// - Throws: `Failure` when it is running, dead or not there; `OperatorReason.TooLong`;
    ///   `RedisError` when Redis did not answer.
    public func cancel(queue: String, id: String, reason: String? = nil) async throws -> DeadLetters.Entry {
        let reason = try OperatorReason.checked(reason)
        let keys = QueueKeys(queue: queue, namespace: namespace)
        // A job's payload changes only when an attempt fails, so a second read is rarely needed.
        for _ in 0..<5 {
            guard let stored = try await redis.send("HGET", .string(keys.jobs), .string(id)).unwrapped().bytes else {
                throw try await failure(queue: queue, id: id)
            }
            let now = Clock.nowMillis()
            var cancelled = stored
            var tenantKey = "_"
            if var envelope = try? JobEnvelope.decode(stored) {
                tenantKey = envelope.tenantKey
                envelope.errors.append(JobErrorRecord(attempt: envelope.attempt, at: now, message: Self.message(reason: reason)))
                envelope.errors = Array(envelope.errors.suffix(JobEnvelope.errorHistory))
                cancelled = try envelope.encoded()
            }
            let outcome = try await redis.run(
                QueueScripts.cancel,
                keys: [.string(keys.jobs), .string(keys.schedule), .string(keys.ring), .string(keys.dead),
                       .string(keys.deadJobs), .string(keys.stats)],
                arguments: [.string(keys.prefix), .string(id), .string(tenantKey), .raw(stored), .raw(cancelled),
                            .int64(now)]).unwrapped().string
            switch outcome {
            case "cancelled": return DeadLetters.entry(id: id, diedAt: now, payload: cancelled)
            case "running": throw try await failure(queue: queue, id: id)
            case "changed": continue
            default: throw try await failure(queue: queue, id: id)   // gone: it ran, or died, meanwhile
            }
        }
        throw try await failure(queue: queue, id: id)
    }

    /// Why job `id` could not be cancelled, from where it is now.
    private func failure(queue: String, id: String) async throws -> Failure {
        let found = try await JobLookup(redis: redis, namespace: namespace).find(queue: queue, id: id)
        switch found?.state {
        case nil: return .notFound(queue: queue, id: id)
        case .dead?: return .alreadyDead(queue: queue, id: id)
        case .inFlight?: return .running(queue: queue, id: id, process: found?.process)
        case .ready?, .scheduled?: return .notTaken(queue: queue, id: id)
        }
    }
}
