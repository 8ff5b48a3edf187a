import Queue

/// What a job needs from its process (the database, a connector), checked in one place: a
/// process started without it refuses the job permanently, saying what is missing — the job
/// lands in the dead letters with that reason instead of failing obscurely.
enum JobDependency {
    static func required<T>(_ value: T?, _ what: String, for kind: String) throws(JobFailure) -> T {
        guard let value else { throw .permanent("\(kind) needs \(what): this process was started without it") }
        return value
    }
}
