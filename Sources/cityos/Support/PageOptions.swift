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
}
