/// How many times a job kind is tried and how long it waits between attempts.
/// Delays grow exponentially from `base`, are capped at `cap`, and are spread by jitter
/// so that a burst of failures does not come back as a burst of retries.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var base: Duration
    public var cap: Duration
    /// Fraction of the delay that is randomised (0 = none, 0.5 = ±50 %).
    public var jitter: Double

    public init(maxAttempts: Int, base: Duration, cap: Duration, jitter: Double) {
        self.maxAttempts = max(1, maxAttempts)
        self.base = base
        self.cap = cap
        self.jitter = min(1, max(0, jitter))
    }

    /// Exponential backoff with jitter: base·2^(n-1), capped.
    public static func exponentialJitter(maxAttempts: Int = 25, base: Duration = .seconds(1),
                                         cap: Duration = .seconds(3600), jitter: Double = 0.25) -> RetryPolicy {
        RetryPolicy(maxAttempts: maxAttempts, base: base, cap: cap, jitter: jitter)
    }

    /// One attempt only: a failure goes straight to the dead letters.
    public static let dontRetry = RetryPolicy(maxAttempts: 1, base: .zero, cap: .zero, jitter: 0)

    /// The wait after failed attempt number `attempt` (1-based), in milliseconds.
    public func delayMillis(afterAttempt attempt: Int) -> Int64 {
        let baseMs = base.seconds * 1000
        let exponent = Double(min(max(attempt - 1, 0), 40))
        let raw = min(cap.seconds * 1000, baseMs * pow2(exponent))
        let spread = raw * jitter
        let jittered = raw + (spread > 0 ? Double.random(in: -spread...spread) : 0)
        return Int64(max(0, jittered))
    }

    private func pow2(_ x: Double) -> Double {
        var r = 1.0
        for _ in 0..<Int(x) { r *= 2 }
        return r
    }
}
