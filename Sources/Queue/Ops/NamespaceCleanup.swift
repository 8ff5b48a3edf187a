import Redis

/// Deletes every key of a namespace (`NAMESPACE:*`): for benchmarks and tests that run in a
/// namespace of their own. Never point it at the platform's namespace.
public enum NamespaceCleanup {
    public static func deleteAll(redis: RedisClient, namespace: String) async throws {
        var cursor = "0"
        repeat {
            let reply = try await redis.send("SCAN", .string(cursor), "MATCH", .string("\(namespace):*"), "COUNT", 1000)
            let parts = reply.array ?? []
            cursor = parts.first?.string ?? "0"
            let keys = (parts.count > 1 ? parts[1].array ?? [] : []).compactMap(\.string)
            if !keys.isEmpty { try await redis.send(RedisCommand("DEL", keys.map { .string($0) })) }
        } while cursor != "0"
    }
}
