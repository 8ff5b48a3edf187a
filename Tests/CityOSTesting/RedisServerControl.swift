import Foundation
import Redis

/// Stops and starts the test Redis itself, for tests of what happens while it is down:
/// `stop()` shuts it down (`SHUTDOWN` flushes the AOF) and waits until it refuses connections;
/// `start()` starts it again from `CITYOS_TEST_REDIS_CONF` (exported by scripts/env.sh test)
/// and waits until it answers PING. Both waits are bounded.
public enum RedisServerControl {
    public static func stop() async throws {
        let endpoint = try RedisEndpoint(url: try TestEnvironment.redisURL())
        var arguments = ["-h", endpoint.host, "-p", "\(endpoint.port)"]
        if let password = endpoint.password { arguments += ["-a", password, "--no-auth-warning"] }
        _ = try runTool("redis-cli", arguments + ["shutdown"])
        try await eventually("Redis at \(endpoint.host):\(endpoint.port) to stop") { !(await answersPing(endpoint)) }
    }

    public static func start() async throws {
        let endpoint = try RedisEndpoint(url: try TestEnvironment.redisURL())
        _ = try runTool("redis-server", [try TestEnvironment.value("CITYOS_TEST_REDIS_CONF")])
        try await eventually("Redis at \(endpoint.host):\(endpoint.port) to start") { await answersPing(endpoint) }
    }

    static func answersPing(_ endpoint: RedisEndpoint) async -> Bool {
        let probe = RedisClient(.init(endpoint: endpoint, connections: 1, connectTimeout: .milliseconds(200),
                                      commandTimeout: .milliseconds(500)))
        defer { probe.shutdown() }
        return (try? await probe.send("PING"))?.string == "PONG"
    }

    /// Runs a tool found on PATH and waits for it (posix_spawn + waitpid: Foundation's `Process`
    /// can miss the exit of a program that daemonizes, like redis-server).
    static func runTool(_ name: String, _ arguments: [String]) throws -> Int32 {
        let argv = ([name] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var pid = pid_t()
        let spawned = posix_spawnp(&pid, name, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestSetupError.missing("\(name) (posix_spawn error \(spawned))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status
    }
}
