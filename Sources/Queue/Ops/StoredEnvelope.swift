import Redis

/// A stored job as operators are shown it (dead letters, job lookup): the envelope when it
/// decodes, else the stored text as it is, so that nothing stored is hidden.
enum StoredEnvelope {
    static func read(_ payload: [UInt8]) -> (envelope: JobEnvelope?, raw: String?) {
        if let envelope = try? JobEnvelope.decode(payload) { return (envelope, nil) }
        return (nil, String(decoding: payload, as: UTF8.self))
    }
}

/// One page of a queue's jobs kept in a sorted set by time (the dead letters by death, the
/// schedule by due time) with their payloads in a hash: what operators page through.
struct TimedJobPage {
    struct Item {
        let id: String
        /// The sorted set's score: ms since the epoch.
        let at: Int64
        /// Nil when the hash no longer holds the job (it moved between the two reads).
        let payload: [UInt8]?
    }

    let total: Int
    let items: [Item]

    /// Reads `limit` ids from `offset` of `sortedSet` (`newestFirst`: highest scores first) and
    /// their payloads from `hash`, in two round trips.
    static func read(redis: RedisClient, sortedSet: String, hash: String, offset: Int, limit: Int,
                     newestFirst: Bool) async throws -> TimedJobPage {
        let (offset, limit) = Paging.clamped(offset: offset, limit: limit)
        let replies = try await redis.pipeline([
            RedisCommand("ZCARD", .string(sortedSet)),
            RedisCommand(newestFirst ? "ZREVRANGE" : "ZRANGE", .string(sortedSet), .int(offset),
                         .int(offset + limit - 1), "WITHSCORES"),
        ])
        let total = try replies[0].unwrapped().int ?? 0
        let scored = Self.scored(try replies[1].unwrapped().array ?? [])
        guard !scored.isEmpty else { return TimedJobPage(total: total, items: []) }
        let payloads = try await redis.send(RedisCommand("HMGET", [.string(hash)] + scored.map { .string($0.id) })).unwrapped().array ?? []
        return TimedJobPage(total: total, items: zip(scored, payloads).map { Item(id: $0.id, at: $0.at, payload: $1.bytes) })
    }

    /// A sorted set's `WITHSCORES` reply as (member, score in ms) pairs.
    static func scored(_ flat: [RedisReply]) -> [(id: String, at: Int64)] {
        stride(from: 0, to: flat.count - 1, by: 2).map { (flat[$0].string ?? "", Int64(Double(flat[$0 + 1].string ?? "0") ?? 0)) }
    }
}
