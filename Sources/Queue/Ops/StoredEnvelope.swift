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
        let payload: [UInt8]
    }

    let total: Int
    let items: [Item]

    /// Reads `limit` ids from `offset` of `sortedSet` (`newestFirst`: highest scores first), their
    /// payloads from `hash` and the total, in one step (`QueueScripts.page`): a job that moves
    /// meanwhile is either on the page with its payload or not on it.
    /// With `after`, the page starts right after that cursor instead (`offset` is not used).
    static func read(redis: RedisClient, sortedSet: String, hash: String, offset: Int, limit: Int,
                     newestFirst: Bool, after: PageCursor? = nil) async throws -> TimedJobPage {
        let (offset, limit) = Paging.clamped(offset: offset, limit: limit)
        let flat = try await redis.run(QueueScripts.page, keys: [.string(sortedSet), .string(hash)],
                                       arguments: [.int(offset), .int(offset + limit - 1), .string(newestFirst ? "1" : "0"),
                                                   .string(after.map { String($0.at) } ?? ""), .int(limit),
                                                   .string(after?.id ?? "")])
            .array ?? []
        guard let total = flat.first?.int else { throw RedisError.unexpectedReply("a page without its total") }
        var items: [Item] = []
        for start in stride(from: 1, to: flat.count - 2, by: 3) {
            guard let id = flat[start].string, let payload = flat[start + 2].bytes else { continue }
            let at = Int64(Double(flat[start + 1].string ?? "0") ?? 0)
            if let after, !after.precedes(at: at, id: id, newestFirst: newestFirst) { continue }
            items.append(Item(id: id, at: at, payload: payload))
        }
        return TimedJobPage(total: total, items: Array(items.prefix(limit)))
    }

    /// A sorted set's `WITHSCORES` reply as (member, score in ms) pairs.
    static func scored(_ flat: [RedisReply]) -> [(id: String, at: Int64)] {
        stride(from: 0, to: flat.count - 1, by: 2).map { (flat[$0].string ?? "", Int64(Double(flat[$0 + 1].string ?? "0") ?? 0)) }
    }
}
