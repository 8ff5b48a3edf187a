/// When to try a failed exchange again within one call: after the service's `Retry-After` when
/// it gave one, else exponential backoff with jitter (half to all of 100 ms, 200 ms, 400 ms, …), never more
/// than `maxWait` and never more than `maxRetries` times.
struct RetrySchedule: Sendable {
    var maxRetries: Int
    var maxWait: Duration
    var base: Duration = .milliseconds(100)

    /// The wait before retry number `attempt + 1`, or `nil` when the call should give up now
    /// (retries used up, or the service asked for a longer wait than this call may spend).
    func wait(after attempt: Int, for error: ConnectorError) -> Duration? {
        guard attempt < maxRetries else { return nil }
        if let asked = error.retryAfter {
            return asked <= maxWait ? asked : nil
        }
        let ceiling = min(maxWait, base * (1 << min(attempt, 16)))
        let millis = max(1, ceiling.milliseconds)
        return .milliseconds(Int.random(in: (millis / 2)...millis))
    }
}
