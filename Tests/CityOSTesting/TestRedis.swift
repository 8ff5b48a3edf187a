import Foundation
import Redis

/// The test Redis: its URL from `CITYOS_REDIS_URL` (set by scripts/test.sh), a client, and a
/// namespace of its own per test so tests never see each other's keys.
public struct TestRedis: Sendable {
    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }

    public let url: String
    public let endpoint: RedisEndpoint
    public let client: RedisClient
    /// A fresh key prefix, e.g. `test-ingress-1a2b3c4d`.
    public let namespace: String

    /// - Throws: `Missing` when `CITYOS_REDIS_URL` is unset (run the tests through scripts/test.sh).
    public static func make(_ label: String = "test") throws -> TestRedis {
        guard let url = ProcessInfo.processInfo.environment["CITYOS_REDIS_URL"], !url.isEmpty else {
            throw Missing(description: "CITYOS_REDIS_URL is not set: run the tests with scripts/test.sh, "
                          + "or export CITYOS_REDIS_URL=redis://127.0.0.1:PORT/0 for a Redis you started")
        }
        let endpoint = try RedisEndpoint(url: url)
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return TestRedis(url: url, endpoint: endpoint,
                         client: RedisClient(.init(endpoint: endpoint, connections: 2, commandTimeout: .seconds(2))),
                         namespace: "\(label)-\(suffix)")
    }

    /// Deletes every key of this test's namespace and closes the client.
    public func cleanUp() async {
        var cursor = "0"
        repeat {
            guard let reply = try? await client.send("SCAN", .string(cursor), "MATCH", .string("\(namespace):*"), "COUNT", "1000"),
                  let parts = reply.array, parts.count == 2 else { break }
            cursor = parts[0].string ?? "0"
            let keys = (parts[1].array ?? []).compactMap(\.string)
            if !keys.isEmpty { _ = try? await client.send(RedisCommand("UNLINK", keys.map { .string($0) })) }
        } while cursor != "0"
        client.shutdown()
    }

    // MARK: Stopping and starting the server (outage tests)

    /// Shuts the server down (`redis-cli SHUTDOWN`, which flushes the AOF) and waits until it
    /// refuses connections.
    public func stopServer() async throws {
        var arguments = ["-h", endpoint.host, "-p", "\(endpoint.port)"]
        if let password = endpoint.password { arguments += ["-a", password, "--no-auth-warning"] }
        _ = try Self.runTool("redis-cli", arguments + ["shutdown"])
        try await waitFor("Redis at \(endpoint.host):\(endpoint.port) to stop") { !(await self.answersPing()) }
    }

    /// Starts the server again from `CITYOS_TEST_REDIS_CONF` (exported by scripts/env.sh test)
    /// and waits until it answers PING.
    public func startServer() async throws {
        guard let conf = ProcessInfo.processInfo.environment["CITYOS_TEST_REDIS_CONF"], !conf.isEmpty else {
            throw Missing(description: "CITYOS_TEST_REDIS_CONF is not set: it names the redis.conf that starts the test Redis")
        }
        _ = try Self.runTool("redis-server", [conf])
        try await waitFor("Redis at \(endpoint.host):\(endpoint.port) to start") { await self.answersPing() }
    }

    public func answersPing() async -> Bool {
        let probe = RedisClient(.init(endpoint: endpoint, connections: 1, connectTimeout: .milliseconds(200),
                                      commandTimeout: .milliseconds(500)))
        defer { probe.shutdown() }
        return (try? await probe.send("PING"))?.string == "PONG"
    }

    /// Checks `condition` every 50 ms for up to `seconds`; throws naming what did not happen.
    private func waitFor(_ what: String, seconds: Double = 10, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Missing(description: "timed out after \(seconds) s waiting for \(what)")
    }

    /// Runs a tool found on PATH and waits for it (posix_spawn + waitpid: Foundation's `Process`
    /// can miss the exit of a program that daemonizes, like redis-server).
    private static func runTool(_ name: String, _ arguments: [String]) throws -> Int32 {
        let argv = ([name] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var pid = pid_t()
        let spawned = posix_spawnp(&pid, name, &actions, nil, argv, environ)
        guard spawned == 0 else { throw Missing(description: "could not run \(name) (error \(spawned)); is it installed?") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status
    }
}
