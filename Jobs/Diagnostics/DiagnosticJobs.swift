import Queue

/// `diag.noop`: does nothing. For benchmarks and for checking that workers take jobs.
public struct NoopJob: JobHandler {
    public struct Arguments: Codable, Sendable { public init() {} }
    public static let kind = "diag.noop"
    public static let options = JobOptions(queue: "default", retry: .dontRetry, timeout: .seconds(10))
    public init() {}
    public func run(_ arguments: Arguments, context: JobContext) async throws {}
}

/// `diag.sleep {"ms": N}`: sleeps N milliseconds (cancellable), e.g. to see timeouts and shutdown.
public struct SleepJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        public var ms: Int
        public init(ms: Int) { self.ms = ms }
    }
    public static let kind = "diag.sleep"
    public static let options = JobOptions(queue: "default", retry: .exponentialJitter(maxAttempts: 3, base: .milliseconds(200)),
                                           timeout: .seconds(30))
    public init() {}
    public func run(_ arguments: Arguments, context: JobContext) async throws {
        try await Task.sleep(for: .milliseconds(max(0, arguments.ms)))
    }
}

/// `diag.flaky {"fail_times": N}`: fails its first N attempts, then succeeds.
public struct FlakyJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        public var failTimes: Int
        enum CodingKeys: String, CodingKey { case failTimes = "fail_times" }
        public init(failTimes: Int) { self.failTimes = failTimes }
    }
    public struct Failure: Error, CustomStringConvertible {
        public let attempt: Int
        public var description: String { "diag.flaky failing on purpose (attempt \(attempt))" }
    }
    public static let kind = "diag.flaky"
    public static let options = JobOptions(queue: "default",
                                           retry: .exponentialJitter(maxAttempts: 5, base: .milliseconds(200), cap: .seconds(5)),
                                           timeout: .seconds(10))
    public init() {}
    public func run(_ arguments: Arguments, context: JobContext) async throws {
        if context.attempt <= arguments.failTimes { throw Failure(attempt: context.attempt) }
    }
}
