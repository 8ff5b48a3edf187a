import CityOSTesting
import Queue
import Redis

enum JobEnvelopeFixture {
    static func make(kind: String, queue: String) -> JobEnvelope {
        JobEnvelope(kind: kind, queue: queue, maxAttempts: 3)
    }
}

enum TestRedisClient {
    /// A client of the test Redis (for readiness checks).
    static func make() throws -> RedisClient { try TestEnvironment.redis() }
}
