/// The pages operators read lists in (dead letters, the schedule, what runs now): the ranges the
/// ops API and the CLI accept for `offset` and `limit`, and the clamp the lists themselves apply,
/// so that a value out of range can never trap or overflow below them. The dead letters and the
/// schedule also page by ``PageCursor``, which holds while the list changes.
public enum Paging {
    public static let offsets = 0...1_000_000_000
    public static let limits = 1...500

    /// `offset` and `limit` brought into their ranges.
    static func clamped(offset: Int, limit: Int) -> (offset: Int, limit: Int) {
        (min(max(offset, offsets.lowerBound), offsets.upperBound), min(max(limit, limits.lowerBound), limits.upperBound))
    }
}

/// Where the next page of a time-ordered list (the dead letters, the schedule) starts: right after
/// this entry, by its time and id. Unlike an offset it holds while the list changes: entries that
/// leave the list (replayed, deleted, run) or join it before the cursor move no other entry across
/// a page boundary, so paging through a list never skips an entry that stays, and shows each that
/// stays once. Written `TIME:ID` (ms since the epoch, then the job id; percent-encode it in a URL).
public struct PageCursor: Sendable, Equatable, CustomStringConvertible {
    /// The entry's time (its sorted set's score), ms since the epoch.
    public var at: Int64
    /// The entry's job id (entries of one time are in byte order of their ids).
    public var id: String

    public init(at: Int64, id: String) {
        self.at = at
        self.id = id
    }

    /// Reads `TIME:ID`; nil when it is not that.
    public init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":"), let at = Int64(text[..<colon]), at >= 0 else { return nil }
        let id = String(text[text.index(after: colon)...])
        guard !id.isEmpty else { return nil }
        self.init(at: at, id: id)
    }

    public var description: String { "\(at):\(id)" }

    /// Whether an entry at (`at`, `id`) comes after this cursor in a list ordered by time, then by
    /// id in byte order (Redis's order of a sorted set's members of one score); `newestFirst`: both
    /// descending.
    func precedes(at: Int64, id: String, newestFirst: Bool) -> Bool {
        if at != self.at { return newestFirst ? at < self.at : at > self.at }
        return newestFirst ? Array(id.utf8).lexicographicallyPrecedes(Array(self.id.utf8))
            : Array(self.id.utf8).lexicographicallyPrecedes(Array(id.utf8))
    }
}
