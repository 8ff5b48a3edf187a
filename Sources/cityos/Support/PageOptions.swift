import ArgumentParser
import Queue

/// `--limit` and `--offset` of the commands that list a page (dead, scheduled, running): the
/// ranges the ops API takes (`Paging`), checked before anything is read.
enum PageOptions {
    static func check(limit: Int, offset: Int) throws {
        guard Paging.limits.contains(limit), Paging.offsets.contains(offset) else {
            throw ValidationError("--limit is \(Paging.limits.lowerBound)-\(Paging.limits.upperBound) "
                                  + "and --offset \(Paging.offsets.lowerBound)-\(Paging.offsets.upperBound)")
        }
    }

    /// `--after`, read (nil when not given); not with `--offset`.
    static func cursor(_ text: String?, offset: Int) throws -> PageCursor? {
        guard let text else { return nil }
        guard let cursor = PageCursor(text) else {
            throw ValidationError("--after is TIME:ID, as the line \"next page: --after …\" gives it")
        }
        guard offset == 0 else { throw ValidationError("give --after or --offset, not both") }
        return cursor
    }

    /// The line that says how to ask the next page, after a full page that ended at `last`.
    static func nextPage(_ count: Int, limit: Int, last: PageCursor?) -> String? {
        guard count == limit, let last else { return nil }
        return "next page: --after \(last)"
    }
}
