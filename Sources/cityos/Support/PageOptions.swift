import ArgumentParser

/// `--limit` and `--offset` of the commands that list a page (dead, scheduled, running): the
/// ranges the ops API takes, checked before anything is read.
enum PageOptions {
    static let limits = 1...500
    static let offsets = 0...1_000_000_000

    static func check(limit: Int, offset: Int) throws {
        guard limits.contains(limit), offsets.contains(offset) else {
            throw ValidationError("--limit is \(limits.lowerBound)-\(limits.upperBound) and --offset \(offsets.lowerBound)-\(offsets.upperBound)")
        }
    }
}
