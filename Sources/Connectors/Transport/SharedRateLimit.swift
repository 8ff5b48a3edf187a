import Foundation
import Redis

/// A per-service rate limit shared by every process that uses the same Redis and namespace:
/// at most `limit` calls are admitted in any one-second window (a sliding-window log, timed by
/// Redis's clock so processes on different hosts agree).
public struct SharedRateLimit: Sendable {
    public let redis: RedisClient
    public let namespace: String

    public init(redis: RedisClient, namespace: String) {
        self.redis = redis
        self.namespace = namespace
    }

    /// The sorted set of the calls admitted for `service` in the last window.
    public func key(for service: Service) -> String { "\(namespace):connectors:rate:{\(service.rawValue)}" }

    /// Waits until a call to `service` is admitted, or throws `rateLimited` after `maxWait`.
    /// - Throws: `ConnectorError.rateLimited` (still busy), `.rateLimiterUnavailable` (Redis down:
    ///   the limit cannot be honoured, so nothing is sent).
    public func acquire(_ service: Service, limit: Int, maxWait: Duration) async throws(ConnectorError) {
        guard limit > 0 else { return }
        let clock = ContinuousClock()
        let deadline = clock.now + maxWait
        let member = UUID().uuidString
        while true {
            let waitMicroseconds: Int
            do {
                let reply = try await redis.run(Self.admit, keys: [.string(key(for: service))],
                                                arguments: [.int(limit), .int(Self.windowMicroseconds), .string(member)])
                guard let wait = reply.int else {
                    throw ConnectorError.rateLimiterUnavailable(service: service, reason: "unexpected reply \(reply)")
                }
                waitMicroseconds = wait
            } catch let error as RedisError {
                throw .rateLimiterUnavailable(service: service, reason: error.description)
            } catch {
                throw (error as? ConnectorError) ?? .rateLimiterUnavailable(service: service, reason: "\(error)")
            }
            if waitMicroseconds == 0 { return }
            // A little jitter so processes woken by the same expiry do not collide every time.
            let wait = Duration.microseconds(waitMicroseconds) + .microseconds(Int.random(in: 0...2_000))
            guard clock.now + wait <= deadline else {
                throw .rateLimited(service: service, retryAfter: .seconds(1))
            }
            do { try await Task.sleep(for: wait) } catch {
                throw .rateLimited(service: service, retryAfter: .seconds(1))
            }
        }
    }

    static let windowMicroseconds = 1_000_000

    /// Admits one call if the window has room.
    /// KEYS[1]: the service's sorted set of admitted calls, scored by Redis time in microseconds.
    /// ARGV[1]: calls allowed per window; ARGV[2]: the window in microseconds; ARGV[3]: a member
    /// unique to this call. Returns 0 when admitted (and recorded), else the microseconds until
    /// the oldest call leaves the window. Guarantees: in any window of ARGV[2] by Redis's clock, at
    /// most ARGV[1] calls are admitted, whatever the number of callers and processes.
    static let admit = RedisScript(name: "connectors.rate.admit", source: """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local limit = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
        if redis.call('ZCARD', KEYS[1]) < limit then
          redis.call('ZADD', KEYS[1], now, ARGV[3])
          redis.call('PEXPIRE', KEYS[1], math.floor(window / 1000) + 1000)
          return 0
        end
        local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        return math.max(1, tonumber(oldest[2]) + window - now + 1)
        """)
}
