import Redis

/// One thing the process needs before it can serve: a name and an async check that throws
/// when it is not there. `GET /readyz` runs them all (each within a deadline) and answers 503
/// unless every one passes. Add checks as dependencies land (e.g. PostgreSQL):
/// ```swift
/// checks.append(ReadinessCheck(name: "postgres") { try await store.ping() })
/// ```
public struct ReadinessCheck: Sendable {
    public let name: String
    public let check: @Sendable () async throws -> Void

    public init(name: String, check: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.check = check
    }

    /// Redis answers `PING` with `PONG`.
    public static func redis(_ redis: RedisClient) -> ReadinessCheck {
        ReadinessCheck(name: "redis") {
            let reply = try await redis.send("PING")
            guard reply.string == "PONG" else { throw RedisError.unexpectedReply("PING answered \(reply)") }
        }
    }
}
