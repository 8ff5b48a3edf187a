/// The pages operators read lists in (dead letters, the schedule, what runs now): the ranges the
/// ops API and the CLI accept for `offset` and `limit`, and the clamp the lists themselves apply,
/// so that a value out of range can never trap or overflow below them.
public enum Paging {
    public static let offsets = 0...1_000_000_000
    public static let limits = 1...500

    /// `offset` and `limit` brought into their ranges.
    static func clamped(offset: Int, limit: Int) -> (offset: Int, limit: Int) {
        (min(max(offset, offsets.lowerBound), offsets.upperBound), min(max(limit, limits.lowerBound), limits.upperBound))
    }
}
