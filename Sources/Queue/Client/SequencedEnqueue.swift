import Redis

/// A claim that only ever moves forward: the highest number enqueued under a name, whatever
/// the queue the job went to.
///
/// The scheduler claims each tick of a schedule with the tick's time as the number. Because
/// the claim is recorded by the same Lua step that stores the job, no crash can separate the
/// two: either the job is stored and the claim moved, or neither happened. A number at or
/// below the recorded one creates nothing, however long ago the first job ran.
public struct EnqueueSequence: Sendable, Equatable {
    /// What the claim is for, e.g. `schedule:payouts-daily`. Unique within the namespace.
    public var name: String
    /// Must be above the number last recorded under `name` for the job to be stored.
    public var number: Int64

    public init(name: String, number: Int64) {
        self.name = name
        self.number = number
    }
}

extension JobClient {
    /// What a sequenced enqueue did.
    public struct SequencedReceipt: Sendable, Equatable {
        /// The job's id (the fixed id from the options, or a new one).
        public let id: String
        /// True when this call stored the job; false when the sequence was already at or past
        /// the number (someone else enqueued it, or a newer number was claimed first).
        public let created: Bool
        /// The number recorded under the sequence before this call, if any.
        public let previous: Int64?
    }

    /// Enqueues a job only if `sequence.number` is above the number last recorded under
    /// `sequence.name`, and records it — in one atomic step.
    ///
    /// The claim is the namespace's, not the queue's: a schedule moved to another queue (its
    /// file's `queue:` edited, or its kind's default queue changed in code) while an older
    /// process still sends it to the first one cannot have one tick stored in both. Claims
    /// written by builds that kept them per queue (`QueueKeys.sequences`) are still read, and
    /// still written, so such a build on the same queue refuses what this one claimed.
    ///
    /// Use it with a fixed `options.jobID` for work that must be enqueued exactly once per
    /// position of a sequence (a schedule's ticks). Idempotency keys are ignored here: the
    /// sequence is the deduplication, and unlike a key it never expires.
    /// - Throws: `JobFailure.unknownKind` / `.badArguments` for input that could never run;
    ///   `RedisError` if Redis did not answer (the job may or may not be stored: calling again
    ///   with the same sequence number is safe).
    public func enqueue(kind: String, args: JSONValue, options: Options = Options(),
                        sequence: EnqueueSequence) async throws -> SequencedReceipt {
        try registry.validate(kind: kind, args: args)
        let envelope = makeEnvelope(kind: kind, args: args, options: options)
        let keys = QueueKeys(queue: envelope.queue, namespace: namespace)
        let global = GlobalKeys(namespace: namespace)
        let reply = try await redis.run(
            SequencedEnqueueScript.script,
            keys: [.string(keys.jobs), .string(keys.ring), .string(keys.schedule), .string(keys.stats),
                   .string(keys.wake), .string(global.queues), .string(keys.sequences),
                   .string(global.sequences)],
            arguments: [.string(keys.prefix), .string(envelope.queue), .int64(Clock.nowMillis()),
                        .string(sequence.name), .int64(sequence.number),
                        .string(envelope.id), .string(envelope.tenantKey), .int64(envelope.dueAt ?? 0),
                        .raw(try envelope.encoded())])
        guard let items = reply.array, items.count == 2, let created = items[0].int else {
            throw RedisError.unexpectedReply("sequenced enqueue returned \(reply)")
        }
        let previous = items[1].string.flatMap { Int64($0) }
        return SequencedReceipt(id: envelope.id, created: created == 1, previous: previous)
    }
}

extension QueueKeys {
    /// Hash: sequence name → the highest number enqueued under it in this queue, as builds
    /// before the namespace's `GlobalKeys.sequences` kept it; still read and written.
    public var sequences: String { prefix + "seq" }
}

extension GlobalKeys {
    /// Hash: sequence name → the highest number enqueued under it, in any queue (see
    /// `EnqueueSequence`).
    public var sequences: String { "\(namespace):seq" }
}

enum SequencedEnqueueScript {
    /// SEQUENCED ENQUEUE — KEYS: jobs, ring, schedule, stats, wake, queues-set, the queue's
    /// sequences (older builds'), the namespace's sequences.
    /// ARGV: prefix, queue, now, sequence name, number, id, tenant, due (0 = now), payload.
    /// Returns {1 | 0, previous number or ""}: 1 when the job was stored; the previous number
    /// is the higher of the two hashes'.
    /// Guarantees: the sequence moves to `number` exactly when the job is stored (or its id
    /// already was), in one step; a number at or below the recorded one changes nothing.
    static let script = RedisScript(name: "sequenced_enqueue", source: QueueScripts.readyHelpers + """

    local prefix, now, number = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[5])
    local previous = redis.call('HGET', KEYS[8], ARGV[4])
    local queued = redis.call('HGET', KEYS[7], ARGV[4])
    if queued and (not previous or tonumber(queued) > tonumber(previous)) then previous = queued end
    if previous and tonumber(previous) >= number then return {0, previous} end
    redis.call('HSET', KEYS[8], ARGV[4], ARGV[5])
    redis.call('HSET', KEYS[7], ARGV[4], ARGV[5])
    redis.call('SADD', KEYS[6], ARGV[2])
    local id, t, due = ARGV[6], ARGV[7], tonumber(ARGV[8])
    if redis.call('HSETNX', KEYS[1], id, ARGV[9]) == 0 then return {0, previous or ''} end
    if due > now then redis.call('ZADD', KEYS[3], due, id) else make_ready(prefix, KEYS[2], t, id, false) end
    redis.call('HINCRBY', KEYS[4], 'enqueued', 1)
    redis.call('LPUSH', KEYS[5], '1'); redis.call('LTRIM', KEYS[5], 0, 0)
    return {1, previous or ''}
    """)
}
