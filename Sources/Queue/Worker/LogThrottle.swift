import Synchronization

/// Lets one log line per key through per `interval`, counting the ones it held back: a warning
/// that thousands of jobs would each repeat (a kind this build does not know) stays readable.
final class LogThrottle: Sendable {
    private let last = Mutex<[String: (at: ContinuousClock.Instant, held: Int)]>([:])
    let interval: Duration

    init(interval: Duration) { self.interval = interval }

    /// nil: hold this line back. Otherwise how many were held back since the last one let through.
    func pass(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        last.withLock { last in
            if let entry = last[key], now - entry.at < interval {
                last[key]?.held += 1
                return nil
            }
            let held = last[key]?.held ?? 0
            last[key] = (now, 0)
            return held
        }
    }
}
