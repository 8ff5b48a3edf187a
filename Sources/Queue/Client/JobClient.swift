import Foundation
import Redis

/// How work gets in: builds envelopes and stores them in Redis, one job or thousands per
/// round trip. Used by the ingress, the scheduler, the outbox relay, the CLI and jobs that
/// fan out. An enqueue that returns has been stored by Redis.
public struct JobClient: Sendable {
    public let redis: RedisClient
    public let registry: JobRegistry
    public let namespace: String

    public init(redis: RedisClient, registry: JobRegistry, namespace: String = "cityos") {
        self.redis = redis
        self.registry = registry
        self.namespace = namespace
    }

    /// Per-enqueue choices; anything unset comes from the job kind's options.
    public struct Options: Sendable {
        public var queue: String?
        public var tenant: String?
        /// Run no earlier than this many seconds from now.
        public var delaySeconds: Double?
        /// Run no earlier than this time (ms since the epoch).
        public var runAtMillis: Int64?
        /// A second enqueue with the same key (per queue) within `uniqueFor` returns the
        /// first job's id and creates nothing.
        public var idempotencyKey: String?
        public var uniqueFor: Int = 86_400
        /// A fixed id (scheduler ticks, outbox rows): an id already stored is not stored again.
        public var jobID: String?
        public var maxAttempts: Int?
        /// The job's W3C traceparent; by default a child of the running job's, else a new trace.
        public var trace: String?

        public init(queue: String? = nil, tenant: String? = nil, delaySeconds: Double? = nil,
                    runAtMillis: Int64? = nil, idempotencyKey: String? = nil, jobID: String? = nil,
                    maxAttempts: Int? = nil, trace: String? = nil) {
            self.queue = queue
            self.tenant = tenant
            self.delaySeconds = delaySeconds
            self.runAtMillis = runAtMillis
            self.idempotencyKey = idempotencyKey
            self.jobID = jobID
            self.maxAttempts = maxAttempts
            self.trace = trace
        }
    }

    /// What an enqueue did: the job's id, and whether it is new or an earlier one's.
    public struct Receipt: Sendable, Equatable {
        public let id: String
        public let created: Bool
    }

    /// Enqueues a job of a typed kind.
    @discardableResult
    public func enqueue<H: JobHandler>(_ kind: H.Type, _ arguments: H.Arguments,
                                       options: Options = Options()) async throws -> Receipt {
        let args = try JSONValue.from(arguments)
        return try await enqueue(kind: H.kind, args: args, options: options)
    }

    /// Enqueues a job by kind name with JSON arguments, after checking both against the registry.
    /// - Throws: `JobFailure.unknownKind` / `.badArguments` for input that could never run;
    ///   `RedisError` if Redis did not store it.
    @discardableResult
    public func enqueue(kind: String, args: JSONValue, options: Options = Options()) async throws -> Receipt {
        try registry.validate(kind: kind, args: args)
        let envelope = makeEnvelope(kind: kind, args: args, options: options)
        let receipts = try await store([EncodedJob(envelope: envelope, idempotencyKey: options.idempotencyKey,
                                                   uniqueFor: options.uniqueFor)])
        guard let receipt = receipts.first else { throw RedisError.unexpectedReply("enqueue returned nothing") }
        return receipt
    }

    /// Enqueues many jobs, grouped per queue into one script call each, all in one round trip.
    /// With `dedupeByIDFor`, each job's id is also its idempotency key for that many seconds:
    /// enqueueing the same id again creates nothing even after the first job has finished
    /// (what a relay that may deliver twice needs).
    public func enqueueBatch(_ envelopes: [JobEnvelope], dedupeByIDFor seconds: Int? = nil) async throws -> [Receipt] {
        try await store(envelopes.map { envelope in
            try EncodedJob(envelope: envelope, idempotencyKey: seconds == nil ? nil : "id:" + envelope.id,
                           uniqueFor: seconds ?? 0)
        })
    }

    /// Builds an envelope with the kind's defaults (queue, attempts) filled in.
    public func makeEnvelope(kind: String, args: JSONValue, options: Options = Options()) -> JobEnvelope {
        let kindOptions = registry.options(for: kind) ?? JobOptions()
        let now = Clock.nowMillis()
        var due: Int64?
        if let runAt = options.runAtMillis { due = runAt }
        // At most a century: a delay no clock reaches (`1e300`, `inf`) would trap converting to ms.
        if let delay = options.delaySeconds, delay > 0 { due = now + Int64(min(delay, 3_153_600_000) * 1000) }
        return JobEnvelope(id: options.jobID ?? JobID.make(), kind: kind,
                           queue: registry.queue(for: kind, override: options.queue), tenant: options.tenant,
                           args: args, maxAttempts: options.maxAttempts ?? kindOptions.retry.maxAttempts,
                           enqueuedAt: now, dueAt: due, trace: options.trace ?? TraceParent.forNewJob())
    }

    func store(_ jobs: [EncodedJob]) async throws -> [Receipt] {
        let plan = plan(jobs)
        return try plan.receipts(from: try await redis.runPipelined(plan.invocations))
    }

    /// Loads the enqueue script into Redis, so that callers who send `plan`s themselves (which
    /// do not reload a forgotten script) find it there from their first call.
    public func loadScripts() async throws(RedisError) {
        try await redis.send("SCRIPT", "LOAD", .string(QueueScripts.enqueue.source))
    }

    /// The script calls that store `jobs` (one per queue, in one round trip) and how their
    /// replies map back to the jobs. For callers that send on a connection themselves (the
    /// ingress's per-loop enqueuers); everyone else calls `enqueue`.
    public func plan(_ jobs: [EncodedJob]) -> EnqueuePlan {
        var order: [String] = []
        var byQueue: [String: [Int]] = [:]
        for (index, job) in jobs.enumerated() {
            if byQueue[job.queue] == nil { order.append(job.queue) }
            byQueue[job.queue, default: []].append(index)
        }
        let now = Clock.nowMillis()
        let global = GlobalKeys(namespace: namespace)
        var invocations: [RedisScript.Invocation] = []
        var members: [[Int]] = []
        for queue in order {
            let keys = QueueKeys(queue: queue, namespace: namespace)
            let indices = byQueue[queue] ?? []
            var argv: [RedisArgument] = [.string(keys.prefix), .string(queue), .int64(now)]
            argv.reserveCapacity(3 + 6 * indices.count)
            for index in indices {
                let job = jobs[index]
                argv.append(.string(job.id))
                argv.append(.string(job.tenantKey))
                argv.append(.int64(job.dueAt ?? 0))
                argv.append(.string(job.idempotencyKey ?? ""))
                argv.append(.int(max(1, job.uniqueFor)))
                argv.append(.raw(job.payload))
            }
            invocations.append(QueueScripts.enqueue.invocation(
                keys: [.string(keys.jobs), .string(keys.ring), .string(keys.schedule), .string(keys.stats),
                       .string(keys.wake), .string(global.queues)],
                arguments: argv))
            members.append(indices)
        }
        return EnqueuePlan(invocations: invocations, members: members, ids: jobs.map(\.id))
    }
}

/// Jobs ready to store: one script call per queue, and which jobs each call carries.
public struct EnqueuePlan: Sendable {
    public let invocations: [RedisScript.Invocation]
    /// Per invocation, the indices of its jobs in the planned order.
    let members: [[Int]]
    let ids: [String]

    /// The receipts, in the planned jobs' order, from the replies to `invocations`.
    /// - Throws: `RedisError` for an error reply or a reply that does not answer every job.
    public func receipts(from replies: [RedisReply]) throws(RedisError) -> [JobClient.Receipt] {
        guard replies.count == invocations.count else {
            throw .unexpectedReply("enqueue answered \(replies.count) replies for \(invocations.count) script calls")
        }
        var receipts = [JobClient.Receipt?](repeating: nil, count: ids.count)
        for (call, indices) in members.enumerated() {
            let items = try replies[call].unwrapped().array ?? []
            for (j, index) in indices.enumerated() where 2 * j + 1 < items.count {
                receipts[index] = JobClient.Receipt(id: items[2 * j].string ?? ids[index], created: items[2 * j + 1].int == 1)
            }
        }
        let stored = receipts.compactMap { $0 }
        guard stored.count == ids.count else {
            throw .unexpectedReply("enqueue answered \(stored.count) receipts for \(ids.count) jobs")
        }
        return stored
    }
}

extension JSONValue {
    /// Any `Encodable` value as JSON.
    public static func from<T: Encodable>(_ value: T) throws(JobFailure) -> JSONValue {
        do {
            let data = try JSONEncoder().encode(value)
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw .badArguments("cannot encode arguments: \(error)")
        }
    }
}
