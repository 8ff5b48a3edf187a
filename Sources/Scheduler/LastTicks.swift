import Foundation
import Queue
import Redis

/// What each schedule last enqueued, kept in Redis so that any scheduler process — a restarted
/// one included — knows which ticks it missed.
///
/// One hash, `NAMESPACE:schedules:last`: schedule name → `{"tick_ms":…,"job_id":"…"}`. A
/// schedule seen for the first time gets `{"tick_ms":NOW}` without a job id: ticks are counted
/// from then on, history is not caught up. The record only moves forward.
///
/// The record is the scheduler's bookmark, not its guard against duplicates: that is the
/// queue's sequence claim (see ``TickEnqueuer``), so a record that lags behind after a crash
/// costs one redundant, harmless enqueue attempt.
///
/// A second hash, `NAMESPACE:schedules:disabled`: schedule name → when a running scheduler last saw
/// it disabled in its file, or not in its files at all (removed), while no running scheduler ran it (ms). Ticks up to then were skipped on
/// purpose, not missed: a schedule enabled again counts its ticks from there, so no catch-up policy
/// runs them.
public struct LastTicks: Sendable {
    let redis: RedisClient
    /// `NAMESPACE:schedules:last`.
    public let key: String
    /// `NAMESPACE:schedules:disabled`.
    public let disabledKey: String

    public init(redis: RedisClient, namespace: String) {
        self.redis = redis
        self.key = "\(namespace):schedules:last"
        self.disabledKey = "\(namespace):schedules:disabled"
    }

    /// One schedule's record.
    public struct Record: Codable, Sendable, Equatable {
        /// The last tick enqueued (ms since the epoch), or when the schedule was first seen.
        public var tickMillis: Int64
        /// The job enqueued for that tick; nil while nothing has been enqueued yet.
        public var jobID: String?
        /// The queue it went to (nil in records written before it was kept): the status looks the job
        /// up there, not in the queue the file names now, which an edit may have changed.
        public var queue: String?
        /// When a running scheduler last saw the schedule disabled (ms), if it ever did (kept in
        /// the `…:disabled` hash, not in the record's JSON).
        public var disabledMillis: Int64?

        public init(tickMillis: Int64, jobID: String?, queue: String? = nil, disabledMillis: Int64? = nil) {
            self.tickMillis = tickMillis
            self.jobID = jobID
            self.queue = queue
            self.disabledMillis = disabledMillis
        }

        public var tick: Date { Date(timeIntervalSince1970: TimeInterval(tickMillis) / 1000) }

        /// Where the schedule's due ticks are counted from: its last tick, or when it was last seen
        /// disabled if that is later (the ticks in between were skipped on purpose, not missed).
        public var countsFrom: Date {
            Date(timeIntervalSince1970: TimeInterval(max(tickMillis, disabledMillis ?? 0)) / 1000)
        }

        enum CodingKeys: String, CodingKey {
            case tickMillis = "tick_ms"
            case jobID = "job_id"
            case queue
        }

        var json: String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            guard let data = try? encoder.encode(self) else { return "{\"tick_ms\":\(tickMillis)}" }
            return String(decoding: data, as: UTF8.self)
        }

        static func decode(_ text: String) -> Record? {
            try? JSONDecoder().decode(Record.self, from: Data(text.utf8))
        }
    }

    /// Every schedule's record, by name, with when it was last seen disabled. Unreadable entries
    /// are left out (and so start anew).
    public func all() async throws(RedisError) -> [String: Record] {
        let replies = try await redis.pipeline([RedisCommand("HGETALL", .string(key)),
                                                RedisCommand("HGETALL", .string(disabledKey))])
        guard replies.count == 2 else { throw .unexpectedReply("HGETALL ×2 returned \(replies.count) replies") }
        let items = (try replies[0].unwrapped().array ?? []).compactMap(\.string)
        let disabled = (try replies[1].unwrapped().array ?? []).compactMap(\.string)
        var records: [String: Record] = [:]
        for i in stride(from: 0, to: items.count - 1, by: 2) {
            if let record = Record.decode(items[i + 1]) { records[items[i]] = record }
        }
        for i in stride(from: 0, to: disabled.count - 1, by: 2) {
            // Only on a record there is: a schedule without one (only ever seen disabled, or new
            // under an old name) starts from now, as every new schedule does.
            guard let millis = Int64(disabled[i + 1]), records[disabled[i]] != nil else { continue }
            records[disabled[i]]?.disabledMillis = millis
        }
        return records
    }

    /// The names of every schedule with a record, removed ones included.
    public func names() async throws(RedisError) -> [String] {
        (try await redis.send("HKEYS", .string(key)).array ?? []).compactMap(\.string)
    }

    /// Notes that a running scheduler sees `names` disabled in its files at `now`: their ticks up
    /// to then are skipped, not missed, should they be enabled again.
    public func markDisabled(_ names: [String], now: Date) async throws(RedisError) {
        guard !names.isEmpty else { return }
        var arguments: [RedisArgument] = [.string(disabledKey)]
        for name in names { arguments += [.string(name), .string(String(Self.millis(now)))] }
        try await redis.send(RedisCommand("HSET", arguments))
    }

    /// The record of `name`, creating it at `now` (without a job) if the schedule is new.
    /// When several processes see a new schedule at once, the first one's `now` wins.
    public func recordOrStart(_ name: String, now: Date) async throws(RedisError) -> Record {
        let start = Record(tickMillis: Self.millis(now), jobID: nil)
        let replies = try await redis.pipeline([
            RedisCommand("HSETNX", .string(key), .string(name), .string(start.json)),
            RedisCommand("HGET", .string(key), .string(name)),
        ])
        guard replies.count == 2 else { throw .unexpectedReply("HSETNX/HGET returned \(replies.count) replies") }
        try replies[0].unwrapped()
        if let text = try replies[1].unwrapped().string, let record = Record.decode(text) { return record }
        // Unreadable (written by hand?): start over from now.
        try await redis.send("HSET", .string(key), .string(name), .string(start.json))
        return start
    }

    /// Records that `tick` of `name` was enqueued as `jobID` in `queue`, unless a later tick already is.
    /// - Returns: whether the record moved.
    @discardableResult
    public func advance(_ name: String, to tick: Date, jobID: String, queue: String? = nil) async throws(RedisError) -> Bool {
        let record = Record(tickMillis: Self.millis(tick), jobID: jobID, queue: queue)
        let reply = try await redis.run(Self.advanceScript, keys: [.string(key)],
                                        arguments: [.string(name), .string(String(record.tickMillis)), .string(record.json)])
        return reply.int == 1
    }

    /// Forgets `name` (e.g. a test starting over). The queue's sequence claim stays.
    public func remove(_ name: String) async throws(RedisError) {
        _ = try await redis.pipeline([RedisCommand("HDEL", .string(key), .string(name)),
                                      RedisCommand("HDEL", .string(disabledKey), .string(name))])
    }

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    /// ADVANCE — KEYS: the last-ticks hash. ARGV: schedule name, tick (ms), record JSON.
    /// Writes the record only if the stored one is older (or unreadable), so a slow process
    /// can never move a schedule's bookmark backwards. Returns 1 if written, 0 if not.
    static let advanceScript = RedisScript(name: "schedule_advance", source: """
    local current = redis.call('HGET', KEYS[1], ARGV[1])
    if current then
      local ok, record = pcall(cjson.decode, current)
      if ok and type(record) == 'table' and tonumber(record.tick_ms) and tonumber(record.tick_ms) >= tonumber(ARGV[2]) then
        return 0
      end
    end
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
    return 1
    """)
}
