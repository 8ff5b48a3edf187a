import Foundation
import Redis

/// What operators do with dead letters: list, inspect, replay, delete.
public struct DeadLetters: Sendable {
    public let redis: RedisClient
    public let namespace: String

    public init(redis: RedisClient, namespace: String = "cityos") {
        self.redis = redis
        self.namespace = namespace
    }

    /// One dead letter: the job as it died, with its error history.
    public struct Entry: Codable, Sendable {
        public let id: String
        public let diedAt: Int64
        public let envelope: JobEnvelope?
        /// The stored text when it is not a readable envelope.
        public let raw: String?

        enum CodingKeys: String, CodingKey {
            case id, envelope, raw
            case diedAt = "died_at"
        }
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case notFound(queue: String, id: String)
        /// A job with the dead letter's id was enqueued again and has not finished.
        case liveTwin(queue: String, id: String)
        /// The letter changed under each of several replays (replayed, died and cancelled again and
        /// again meanwhile): nothing was done.
        case changing(queue: String, id: String)
        /// A deletion of the letter as it was shown (its time of death): it was replayed and died
        /// again since; nothing was done.
        case changedSince(queue: String, id: String, diedAt: Int64)
        public var description: String {
            switch self {
            case .notFound(let q, let id): return "no dead letter \(id) in queue \(q)"
            case .changing(let q, let id):
                return "dead letter \(id) of queue \(q) kept changing while it was replayed (another operator?); nothing was done, try again"
            case .liveTwin(let q, let id):
                return "job \(id) of queue \(q) was enqueued again and has not finished: replaying its dead letter would "
                    + "run that id twice; wait until it finishes, or delete the dead letter with `cityos dead delete \(q) \(id)`"
            case .changedSince(let q, let id, let diedAt):
                return "dead letter \(id) of queue \(q) is no longer the one that died at \(diedAt) (it was replayed and died "
                    + "again since): nothing was deleted; look at it again"
            }
        }
    }

    /// Which dead letters a list, a replay or a deletion of "all" takes: every one, or those of one
    /// kind, and/or whose last error contains a text (ignoring case) — after an outage of one
    /// service, the jobs it killed and no others.
    public struct Filter: Sendable, Equatable {
        public var kind: String?
        public var errorContains: String?

        public init(kind: String? = nil, errorContains: String? = nil) {
            self.kind = kind.flatMap { $0.isEmpty ? nil : $0 }
            self.errorContains = errorContains.flatMap { $0.isEmpty ? nil : $0 }
        }

        public static let all = Filter()

        public var isEmpty: Bool { kind == nil && errorContains == nil }

        /// Whether a bulk replay with this filter takes letters an operator cancelled: only when its
        /// error text names cancellations as such, the word "cancelled" alone or a text holding the
        /// whole "cancelled by an operator" (such as a line `dead list` shows, with its reason),
        /// ignoring case. A text that matches a cancellation's reason ("503", "stripe") or a failure
        /// about cancelling ("cancel", "could not cancel the invoice") takes the failures it names
        /// and leaves what an operator took out of line on purpose.
        var namesCancellations: Bool {
            guard let text = errorContains?.trimmingCharacters(in: .whitespaces) else { return false }
            return text.caseInsensitiveCompare("cancelled") == .orderedSame
                || text.range(of: JobCancel.message(reason: nil), options: .caseInsensitive) != nil
        }

        /// Whether the filter takes the stored letter `payload`. Only its kind and error history
        /// are read (JSONDecoder builds nothing of the arguments, which may be a webhook's whole
        /// body): a filter reads through every dead letter, up to the cap's 10,000.
        func matches(payload: [UInt8]) -> Bool {
            let fields = try? JSONDecoder().decode(FilterFields.self, from: Data(payload))
            if let kind, fields?.kind != kind { return false }
            if let text = errorContains {
                guard let last = fields?.errors?.last?.message,
                      last.range(of: text, options: .caseInsensitive) != nil else { return false }
            }
            return true
        }

        /// What a filter reads of a stored envelope.
        private struct FilterFields: Decodable {
            struct Failure: Decodable { var message: String }
            var kind: String?
            var errors: [Failure]?
        }
    }

    /// A dead letter a filter took: its id and time of death.
    struct Match {
        let id: String
        let diedAt: Int64
    }

    /// Dead letters, newest first, from `offset` or right after the cursor `after`; with a filter,
    /// the ones it takes (read through all of them, which the cap bounds).
    public func list(queue: String, offset: Int = 0, limit: Int = 50, after: PageCursor? = nil,
                     filter: Filter = .all) async throws -> (total: Int, entries: [Entry]) {
        let keys = QueueKeys(queue: queue, namespace: namespace)
        guard filter.isEmpty else {
            let matching = try await matching(queue: queue, filter: filter)
            let (offset, limit) = Paging.clamped(offset: offset, limit: limit)
            let candidates = after.map { after in
                ArraySlice(matching.filter { after.precedes(at: $0.diedAt, id: $0.id, newestFirst: true) })
            } ?? matching.dropFirst(offset)
            // Only the page's letters are read whole. One replayed or deleted since (or no longer
            // taken by the filter) is left out and the page topped up from the next matches, so a
            // page comes back short only at the end and paging by cursor goes on to the end.
            var entries: [Entry] = []
            var next = candidates.startIndex
            while entries.count < limit, next < candidates.endIndex {
                let chunk = candidates[next..<min(next + (limit - entries.count), candidates.endIndex)]
                next = chunk.endIndex
                let payloads = try await redis.send(RedisCommand("HMGET", [.string(keys.deadJobs)] + chunk.map { .string($0.id) }))
                    .unwrapped().array ?? []
                for (match, payload) in zip(chunk, payloads) {
                    guard let bytes = payload.bytes, filter.matches(payload: bytes) else { continue }
                    entries.append(Self.entry(id: match.id, diedAt: match.diedAt, payload: bytes))
                }
            }
            return (matching.count, entries)
        }
        let page = try await TimedJobPage.read(redis: redis, sortedSet: keys.dead, hash: keys.deadJobs, offset: offset,
                                               limit: limit, newestFirst: true, after: after)
        return (page.total, page.items.map { Self.entry(id: $0.id, diedAt: $0.at, payload: $0.payload) })
    }

    /// The dead letters `filter` takes, newest first: the ids as they are when asked (so a letter
    /// that dies meanwhile is not taken, nor one seen twice), their payloads read 100 at a time
    /// and only their ids kept, so that a filter over the whole cap holds one chunk at a time.
    func matching(queue: String, filter: Filter) async throws -> [Match] {
        var found: [Match] = []
        try await forEachMatchingChunk(queue: queue, filter: filter) { chunk in
            found += chunk.map { Match(id: $0.id, diedAt: $0.diedAt) }
        }
        return found
    }

    /// Hands `body` the letters `filter` takes, with their payloads as read, 100 letters read at a
    /// time (a bulk delete compares each with what it deletes, holding one chunk at a time).
    private func forEachMatchingChunk(queue: String, filter: Filter,
                                      _ body: ([(id: String, diedAt: Int64, payload: [UInt8])]) async throws -> Void) async throws {
        let keys = QueueKeys(queue: queue, namespace: namespace)
        let scored = TimedJobPage.scored(
            try await redis.send("ZRANGE", .string(keys.dead), 0, -1, "REV", "WITHSCORES").unwrapped().array ?? [])
        for start in stride(from: 0, to: scored.count, by: 100) {
            let chunk = scored[start..<min(scored.count, start + 100)]
            let payloads = try await redis.send(RedisCommand("HMGET", [.string(keys.deadJobs)] + chunk.map { .string($0.id) }))
                .unwrapped().array ?? []
            var matched: [(id: String, diedAt: Int64, payload: [UInt8])] = []
            for (item, payload) in zip(chunk, payloads) {
                guard let bytes = payload.bytes else { continue }   // replayed or deleted meanwhile
                if filter.matches(payload: bytes) { matched.append((item.id, item.at, bytes)) }
            }
            if !matched.isEmpty { try await body(matched) }
        }
    }

    /// One dead letter by id.
    public func show(queue: String, id: String) async throws -> Entry {
        let (diedAt, payload) = try await read(queue: queue, id: id)
        return Self.entry(id: id, diedAt: diedAt, payload: payload)
    }

    /// A dead letter's time of death and payload as stored.
    private func read(queue: String, id: String) async throws -> (diedAt: Int64, payload: [UInt8]) {
        let keys = QueueKeys(queue: queue, namespace: namespace)
        let replies = try await redis.pipeline([
            RedisCommand("ZSCORE", .string(keys.dead), .string(id)),
            RedisCommand("HGET", .string(keys.deadJobs), .string(id)),
        ])
        guard let score = try replies[0].unwrapped().string, let payload = try replies[1].unwrapped().bytes else {
            throw Failure.notFound(queue: queue, id: id)
        }
        return (Int64(Double(score) ?? 0), payload)
    }

    /// Replays one dead letter: attempts start again from zero, the error history stays.
    public func retry(queue: String, id: String) async throws {
        try await replay(queue: queue, id: id, leavingCancelled: false)
    }

    /// What a bulk replay did, and what it left dead on purpose.
    public struct BulkReplay: Sendable, Equatable, Encodable {
        /// Letters replayed.
        public var retried = 0
        /// Letters an operator cancelled (`JobCancel`), left dead: a bulk replay brings back what
        /// failed, not what someone took out of line on purpose. An error filter that names them as
        /// cancellations (`error=cancelled`, `Filter.namesCancellations`) replays them, as does
        /// replaying one by its id; a filter that matches only a cancellation's reason does not.
        public var leftCancelled = 0
        /// Letters whose id is a live job again, left dead: replaying would run that id twice.
        public var leftLiveTwin = 0
        /// Letters that kept changing while they were replayed (another operator at work): left as
        /// they are; a bulk replay run again takes them.
        public var leftChanging = 0

        enum CodingKeys: String, CodingKey {
            case retried, leftCancelled = "left_cancelled", leftLiveTwin = "left_live_twin", leftChanging = "left_changing"
        }

        /// One line for the command line and the dashboard.
        public var summary: String {
            var left: [String] = []
            if leftCancelled > 0 {
                left.append("\(leftCancelled) cancelled by an operator (replay those with the error filter \"cancelled\")")
            }
            if leftLiveTwin > 0 { left.append("\(leftLiveTwin) whose id is live again") }
            if leftChanging > 0 { left.append("\(leftChanging) changing meanwhile (run it again)") }
            return "replayed \(retried)" + (left.isEmpty ? "" : "; left dead: " + left.joined(separator: ", "))
        }
    }

    private struct Cancelled: Error {}
    private struct NoLongerMatching: Error {}

    /// Replays one letter; with a filter, only while the letter still matches it (another operator
    /// may have replayed it, and it died again of something else).
    private func replay(queue: String, id: String, leavingCancelled: Bool, filter: Filter = .all) async throws {
        // The letter as read is what comes back; if it changed before the script ran (replayed and
        // dead again, or cancelled, by another operator), it is read again.
        for _ in 0..<5 {
            let (diedAt, payload) = try await read(queue: queue, id: id)
            if !filter.isEmpty, !filter.matches(payload: payload) { throw NoLongerMatching() }
            let entry = Self.entry(id: id, diedAt: diedAt, payload: payload)
            if leavingCancelled, let last = entry.envelope?.errors.last, JobCancel.isCancellation(last) { throw Cancelled() }
            var envelope = entry.envelope ?? JobEnvelope(id: id, kind: JobRunner.poisonKind, queue: queue,
                                                         args: .string(entry.raw ?? ""), maxAttempts: 1)
            envelope.attempt = 0
            envelope.crashes = nil               // a replay after the fix starts its count afresh
            envelope.dueAt = Clock.nowMillis()   // ready from now: its wait is counted from here
            let keys = QueueKeys(queue: queue, namespace: namespace)
            let moved = try await redis.run(
                QueueScripts.resurrect,
                keys: [.string(keys.dead), .string(keys.deadJobs), .string(keys.jobs), .string(keys.ring), .string(keys.wake)],
                arguments: [.string(keys.prefix), .string(id), .string(envelope.tenantKey), .raw(try envelope.encoded()),
                            .raw(payload)])
            switch moved.int {
            case 1: return
            case -1: throw Failure.liveTwin(queue: queue, id: id)
            case -2: continue
            default: throw Failure.notFound(queue: queue, id: id)
            }
        }
        throw Failure.changing(queue: queue, id: id)
    }

    /// Replays every dead letter the queue holds when asked, each once, newest first. The ids are
    /// read once up front (at most the cap's), so a replayed job that dies again at once (a failure
    /// that persists) stays dead rather than being replayed round and
    /// round while workers kill it; so do letters that die meanwhile. With a filter, only the
    /// letters it takes. Letters cancelled by an operator stay dead unless the error filter names
    /// them as cancellations (`Filter.namesCancellations`: "cancelled", not a word of the reason);
    /// letters whose id is live again stay dead (`BulkReplay` counts both).
    public func retryAll(queue: String, filter: Filter = .all) async throws -> BulkReplay {
        let keys = QueueKeys(queue: queue, namespace: namespace)
        let ids = filter.isEmpty
            ? (try await redis.send("ZRANGE", .string(keys.dead), 0, -1, "REV").array ?? []).compactMap(\.string)
            : try await matching(queue: queue, filter: filter).map(\.id)
        var done = BulkReplay()
        for id in ids {
            do {
                try await replay(queue: queue, id: id, leavingCancelled: !filter.namesCancellations, filter: filter)
                done.retried += 1
            } catch Failure.notFound {
                continue
            } catch is NoLongerMatching {
                continue
            } catch Failure.liveTwin {
                done.leftLiveTwin += 1
            } catch Failure.changing {
                done.leftChanging += 1
            } catch is Cancelled {
                done.leftCancelled += 1
            }
        }
        return done
    }

    /// Deletes one dead letter; with `diedAt` (its time of death as shown, ms), only while it is still
    /// that letter: one that died again since an operator looked is not deleted unseen
    /// (`changedSince`); one replayed and not dead again is no dead letter (`notFound`).
    public func delete(queue: String, id: String, diedAt: Int64? = nil) async throws {
        let keys = QueueKeys(queue: queue, namespace: namespace)
        let deleted = try await redis.run(QueueScripts.deleteDead, keys: [.string(keys.dead), .string(keys.deadJobs)],
                                          arguments: [.string(id), .string(""), .string(diedAt.map(String.init) ?? "")])
        switch deleted.int {
        case 1: return
        case -1: throw Failure.changedSince(queue: queue, id: id, diedAt: diedAt ?? 0)
        default: throw Failure.notFound(queue: queue, id: id)
        }
    }

    /// Deletes every dead letter of a queue, or those `filter` takes; returns how many.
    public func deleteAll(queue: String, filter: Filter = .all) async throws -> Int {
        let keys = QueueKeys(queue: queue, namespace: namespace)
        guard filter.isEmpty else {
            // Each letter only as the filter saw it: one replayed meanwhile that died again of
            // something else is not the one asked for.
            var count = 0
            try await forEachMatchingChunk(queue: queue, filter: filter) { chunk in
                for letter in chunk {
                    let deleted = try await redis.run(QueueScripts.deleteDead, keys: [.string(keys.dead), .string(keys.deadJobs)],
                                                      arguments: [.string(letter.id), .raw(letter.payload)])
                    if deleted.int == 1 { count += 1 }
                }
            }
            return count
        }
        return try await redis.run(QueueScripts.deleteDead, keys: [.string(keys.dead), .string(keys.deadJobs)], arguments: []).int ?? 0
    }

    static func entry(id: String, diedAt: Int64, payload: [UInt8]?) -> Entry {
        guard let payload else { return Entry(id: id, diedAt: diedAt, envelope: nil, raw: nil) }
        let stored = StoredEnvelope.read(payload)
        return Entry(id: id, diedAt: diedAt, envelope: stored.envelope, raw: stored.raw)
    }
}
