import Foundation
import Queue
import Redis

/// The schedulers running now, each as it published itself: one field of `<ns>:schedulers` per
/// process, with what it loaded at its start (a fingerprint per enabled schedule), refreshed
/// every ``beatInterval`` and removed when it stops. A scheduler reads its files once, at its
/// start: this is how the status tells the schedules in the files from the ones being run (an
/// edited, disabled or removed file takes effect at the scheduler's restart), and sees that no
/// scheduler runs at all.
public struct RunningSchedulers: Sendable {
    public struct Entry: Codable, Sendable, Equatable {
        public var id: String
        public var startedMillis: Int64
        public var beatMillis: Int64
        /// Schedule name → ``ScheduleDefinition/fingerprint`` of each enabled schedule it runs.
        public var schedules: [String: String]

        enum CodingKeys: String, CodingKey {
            case id, schedules
            case startedMillis = "started_ms"
            case beatMillis = "beat_ms"
        }
    }

    /// How often a running scheduler refreshes its entry.
    public static let beatInterval: TimeInterval = 5
    /// An entry not refreshed for this long is a scheduler gone (killed without removing it).
    public static let staleAfter: TimeInterval = 30
    /// An entry not refreshed for this long is dropped by the next scheduler that starts.
    public static let sweepAfter: TimeInterval = 86_400
    /// A scheduler silent for less than this still keeps the schedules it runs from being marked
    /// skipped by one that has them disabled (``SchedulerRunner``): a few minutes of Redis trouble
    /// do not drop its ticks, and a killed one holds marks back no longer than this.
    public static let holdsMarksFor: TimeInterval = 600

    let redis: RedisClient
    let key: String

    public init(redis: RedisClient, namespace: String) {
        self.redis = redis
        self.key = "\(namespace):schedulers"
    }

    /// Publishes (or refreshes) `entry`; with `sweep` (a scheduler's first beat), also drops the
    /// entries gone for a day, which only a scheduler killed without its stop leaves.
    func beat(_ entry: Entry, sweep: Bool) async throws(RedisError) {
        let json = (try? JSONEncoder().encode(entry)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        _ = try await redis.send("HSET", .string(key), .string(entry.id), .string(json))
        guard sweep else { return }
        let gone = try await read(nowMillis: entry.beatMillis, staleAfter: Self.sweepAfter).stale
        if !gone.isEmpty {
            _ = try await redis.send(RedisCommand("HDEL", [.string(key)] + gone.map { .string($0) }))
        }
    }

    /// Removes the entry of a scheduler that stops.
    func remove(id: String) async throws(RedisError) {
        _ = try await redis.send("HDEL", .string(key), .string(id))
    }

    /// The schedulers whose entry was refreshed within `staleAfter` of `nowMillis` (before or
    /// after it), oldest first.
    public func live(nowMillis: Int64, staleAfter: TimeInterval = RunningSchedulers.staleAfter) async throws(RedisError) -> [Entry] {
        try await read(nowMillis: nowMillis, staleAfter: staleAfter).live
    }

    /// The entries refreshed within `staleAfter`, and the ids of the others (or unreadable).
    private func read(nowMillis: Int64, staleAfter: TimeInterval) async throws(RedisError) -> (live: [Entry], stale: [String]) {
        let reply = try await redis.send("HGETALL", .string(key))
        let items = reply.array ?? []
        var live: [Entry] = []
        var stale: [String] = []
        for index in stride(from: 0, to: items.count - 1, by: 2) {
            guard let id = items[index].string else { continue }
            guard let bytes = items[index + 1].bytes, let entry = try? JSONDecoder().decode(Entry.self, from: Data(bytes)),
                  // Either way: a beat stamped ahead of now (a clock that was ahead) is no sign
                  // of life, or a scheduler that died would look alive until that time came.
                  // (As Doubles: an entry written by hand must not trap the subtraction.)
                  abs(Double(nowMillis) - Double(entry.beatMillis)) <= staleAfter * 1000 else {
                stale.append(id)
                continue
            }
            live.append(entry)
        }
        return (live.sorted { $0.startedMillis < $1.startedMillis }, stale)
    }
}

extension ScheduleDefinition {
    /// What a scheduler runs of this schedule: two that differ in it enqueue differently.
    public var fingerprint: String {
        "\(cronText) | \(ScheduleStatus.zoneName(timeZone)) | \(jobKind) | \(queue ?? "-") | \(catchUp.rawValue) | \(argumentsJSON)"
    }
}
