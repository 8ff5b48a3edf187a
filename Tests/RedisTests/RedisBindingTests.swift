import CityOSTesting
import Foundation
@testable import Redis
import XCTest

/// The Redis binding against the real test Redis.
final class RedisBindingTests: XCTestCase {
    func testNulBytesAndOneMebibyteValueRoundTrip() async throws {
        let redis = try TestEnvironment.redis()
        defer { redis.shutdown() }
        let key = "test:binary:\(UUID().uuidString)"
        let binary: [UInt8] = [0, 1, 0, 255, 0x0d, 0x0a, 0, 42]
        try await redis.send("SET", .string(key), .raw(binary))
        let awaited13 = try await redis.send("GET", .string(key)).bytes
        XCTAssertEqual(awaited13, binary)

        var big = [UInt8](repeating: 0, count: 1 << 20)
        for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 31) }
        try await redis.send("SET", .string(key), .raw(big))
        let back = try await redis.send("GET", .string(key)).bytes
        XCTAssertEqual(back?.count, 1 << 20)
        XCTAssertEqual(back, big)
        try await redis.send("DEL", .string(key))
    }

    func testTenThousandPipelinedCommandsComeBackInOrder() async throws {
        let redis = try TestEnvironment.redis()
        defer { redis.shutdown() }
        let key = "test:pipeline:\(UUID().uuidString)"
        let commands = (0..<10_000).map { _ in RedisCommand("INCR", .string(key)) }
        let replies = try await redis.pipeline(commands)
        XCTAssertEqual(replies.count, 10_000)
        XCTAssertEqual(replies.map { $0.int ?? -1 }, Array(1...10_000))
        try await redis.send("DEL", .string(key))
    }

    func testPipelinesOfManySizesOnOneConnectionEachGetTheirOwnRepliesInOrder() async throws {
        // Replies are gathered for the oldest request until it has all of its own; requests of
        // 1 to 1,000 commands from concurrent callers share the one socket in between.
        let redis = try TestEnvironment.redis(connections: 1)
        defer { redis.shutdown() }
        let prefix = "test:pipelines:\(UUID().uuidString):"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<24 {
                group.addTask {
                    let size = [1, 7, 1_000, 250][caller % 4]
                    let commands = (0..<size).map { RedisCommand("ECHO", .string("\(prefix)\(caller):\($0)")) }
                    let replies = try await redis.pipeline(commands)
                    XCTAssertEqual(replies.map { $0.string ?? "?" }, (0..<size).map { "\(prefix)\(caller):\($0)" },
                                   "caller \(caller)")
                }
            }
            try await group.waitForAll()
        }
    }

    func testConcurrentCallersShareConnectionsAndEachGetsItsOwnReply() async throws {
        let redis = try TestEnvironment.redis(connections: 2)
        defer { redis.shutdown() }
        let prefix = "test:concurrent:\(UUID().uuidString):"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<2000 {
                group.addTask {
                    try await redis.send("SET", .string(prefix + "\(i)"), .int(i))
                    let value = try await redis.send("GET", .string(prefix + "\(i)")).int
                    XCTAssertEqual(value, i)
                }
            }
            try await group.waitForAll()
        }
        let keys = (0..<2000).map { RedisArgument.string(prefix + "\($0)") }
        try await redis.send(RedisCommand("DEL", keys))
    }

    func testErrorReplyIsATypedErrorAndOnlyFailsItsOwnCommand() async throws {
        let redis = try TestEnvironment.redis()
        defer { redis.shutdown() }
        let key = "test:wrongtype:\(UUID().uuidString)"
        try await redis.send("SET", .string(key), "text")
        do {
            try await redis.send("INCR", .string(key))
            XCTFail("INCR on a non-integer must throw")
        } catch RedisError.server(let message) {
            XCTAssertTrue(message.hasPrefix("ERR"), message)
        }
        let replies = try await redis.pipeline([RedisCommand("LPUSH", .string(key), "x"), RedisCommand("GET", .string(key))])
        guard case .error(let message) = replies[0] else { return XCTFail("expected an error reply, got \(replies[0])") }
        XCTAssertTrue(message.hasPrefix("WRONGTYPE"), message)
        XCTAssertEqual(replies[1].string, "text")
        try await redis.send("DEL", .string(key))
    }

    func testConnectingToAClosedPortFailsFastWithAClearError() async throws {
        let redis = RedisClient(.init(endpoint: RedisEndpoint(host: "127.0.0.1", port: 1)))
        let start = ContinuousClock.now
        do {
            try await redis.send("PING")
            XCTFail("PING to a closed port must fail")
        } catch {
            guard case .connectionRefused(let address, _) = error else { return XCTFail("expected connectionRefused, got \(error)") }
            XCTAssertEqual(address, "127.0.0.1:1")
            XCTAssertTrue(error.description.contains("refused"), error.description)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(1))
    }

    func testACommandPastItsDeadlineFailsWithTimeoutAndTheClientRecovers() async throws {
        let endpoint = try RedisEndpoint(url: try TestEnvironment.redisURL())
        let redis = RedisClient(.init(endpoint: endpoint, connections: 1, commandTimeout: .milliseconds(200)))
        defer { redis.shutdown() }
        do {
            try await redis.send("BLPOP", .string("test:never:\(UUID().uuidString)"), 2)
            XCTFail("a 2 s BLPOP must miss a 200 ms deadline")
        } catch {
            guard case .timeout = error else { return XCTFail("expected timeout, got \(error)") }
        }
        let awaited14 = try await redis.send("PING").string
        XCTAssertEqual(awaited14, "PONG")
    }

    func testAShutdownDuringAConnectClosesTheConnectionOnceItOpens() async throws {
        let url = try TestEnvironment.redisURL()
        let admin = try RedisClient(url: url)
        defer { admin.shutdown() }
        // A database of its own tells this client's connection apart in CLIENT LIST.
        var endpoint = try RedisEndpoint(url: url)
        endpoint.database = 9
        let client = RedisClient(.init(endpoint: endpoint, connections: 1))
        // The pause holds the new connection's SELECT: the connect is still under way at shutdown.
        try await admin.send("CLIENT", "PAUSE", "700", "ALL")
        let ping = Task { try await client.send("PING") }
        try await eventually("the client to start connecting") { client.isConnecting }
        client.shutdown()
        let result = await ping.result
        guard case .failure(let error) = result, case .connectionClosed? = error as? RedisError else {
            return XCTFail("a command whose client shut down while it connected must fail as closed, got \(result)")
        }
        try await eventually("the connection opened after the shutdown to be closed") {
            let clients = try await admin.send("CLIENT", "LIST").string ?? ""
            return !clients.split(separator: "\n").contains { $0.contains(" db=9 ") }
        }
    }

    func testScriptsRunBySHAAndReloadAfterScriptFlush() async throws {
        let redis = try TestEnvironment.redis()
        defer { redis.shutdown() }
        let script = RedisScript(name: "double", source: "return tonumber(ARGV[1]) * 2")
        let awaited15 = try await redis.run(script, keys: [], arguments: [21]).int
        XCTAssertEqual(awaited15, 42)
        try await redis.send("SCRIPT", "FLUSH")
        let awaited16 = try await redis.run(script, keys: [], arguments: [4]).int
        XCTAssertEqual(awaited16, 8)
        let failing = RedisScript(name: "fails", source: "return redis.error_reply('nope')")
        do {
            try await redis.run(failing, keys: [], arguments: [])
            XCTFail("a script's error reply must throw")
        } catch RedisError.server(let message) {
            XCTAssertTrue(message.contains("nope"), message)
        }
    }

    func testTheClientReconnectsAfterRedisRestarts() async throws {
        let script = try TestEnvironment.value("CITYOS_SERVICES_SCRIPT")
        let redis = try TestEnvironment.redis(connections: 1)
        defer { redis.shutdown() }
        let key = "test:restart:\(UUID().uuidString)"
        try await redis.send("SET", .string(key), "before")

        let restart = try ChildProcess(executable: "/bin/bash", arguments: [script, "restart-redis", "test"])
        let status = try await restart.waitForExit()
        XCTAssertEqual(status, 0, "restart-redis failed: \(restart.log)")

        // AOF is on, so the value written before the restart is still there.
        let awaited17 = try await redis.send("GET", .string(key)).string
        XCTAssertEqual(awaited17, "before")
        try await redis.send("DEL", .string(key))
    }

    func testRedisURLsAreParsedAndPasswordsMasked() throws {
        let endpoint = try RedisEndpoint(url: "redis://:s3cret@10.0.0.5:6380/3")
        XCTAssertEqual(endpoint, RedisEndpoint(host: "10.0.0.5", port: 6380, password: "s3cret", database: 3))
        XCTAssertFalse(endpoint.redacted.contains("s3cret"))
        XCTAssertThrowsError(try RedisEndpoint(url: "http://localhost")) { error in
            XCTAssertTrue("\(error)".contains("redis://"))
        }
        XCTAssertThrowsError(try RedisEndpoint(url: "redis://host:notaport"))
        // A URL that does not parse is named in the error, its password masked.
        XCTAssertThrowsError(try RedisEndpoint(url: "redis://:s3cret@host:notaport")) { error in
            XCTAssertFalse("\(error)".contains("s3cret"), "\(error)")
            XCTAssertTrue("\(error)".contains("redis://:****@host:notaport"), "\(error)")
        }

        let socket = try RedisEndpoint(url: "unix://:s3cret@/var/run/redis/redis.sock?db=2")
        XCTAssertEqual(socket, RedisEndpoint(socketPath: "/var/run/redis/redis.sock", password: "s3cret", database: 2))
        XCTAssertEqual(socket.address, "/var/run/redis/redis.sock")
        XCTAssertEqual(socket.redacted, "unix://:****@/var/run/redis/redis.sock?db=2")
        XCTAssertEqual(try RedisEndpoint(url: "unix:///tmp/r.sock"), RedisEndpoint(socketPath: "/tmp/r.sock"))
        for bad in ["unix://relative.sock", "unix:///tmp/r.sock?db=x", "unix://", "unix:///tmp/r.sock?database=1"] {
            XCTAssertThrowsError(try RedisEndpoint(url: bad), bad) { error in
                XCTAssertTrue("\(error)".contains("unix://"), "\(error)")
            }
        }
    }

    func testAUserAndPasswordInTheURLAreReadPercentDecoded() throws {
        let endpoint = try RedisEndpoint(url: "redis://app:p%40ss%3Aword@10.0.0.5:6380/1")
        XCTAssertEqual(endpoint, RedisEndpoint(host: "10.0.0.5", port: 6380, username: "app", password: "p@ss:word", database: 1))
        XCTAssertEqual(endpoint.redacted, "redis://app:****@10.0.0.5:6380/1")
        // An unencoded '@' in the password still works: the last '@' ends the credentials.
        XCTAssertEqual(try RedisEndpoint(url: "redis://:a@b@host").password, "a@b")
        XCTAssertEqual(try RedisEndpoint(url: "unix://worker:pw@/tmp/r.sock"),
                       RedisEndpoint(socketPath: "/tmp/r.sock", username: "worker", password: "pw"))
        XCTAssertNil(try RedisEndpoint(url: "redis://onlyuser:@host").username, "a user without a password is not used")
        // `default` (and no user) authenticate with the password alone, as Redis before 6 takes it.
        XCTAssertEqual(try RedisEndpoint(url: "redis://default:pw@host").authCommand?.arguments, RedisCommand("AUTH", "pw").arguments)
        XCTAssertEqual(try RedisEndpoint(url: "redis://:pw@host").authCommand?.arguments, RedisCommand("AUTH", "pw").arguments)
        XCTAssertEqual(try RedisEndpoint(url: "redis://app:pw@host").authCommand?.arguments, RedisCommand("AUTH", "app", "pw").arguments)
        XCTAssertThrowsError(try RedisEndpoint(url: "redis://:bad%zz@host")) { error in
            XCTAssertFalse("\(error)".contains("bad%zz"), "the password is masked: \(error)")
        }
    }

    /// A URL naming an ACL user authenticates as that user, not as `default`.
    func testAClientAuthenticatesAsTheACLUserItsURLNames() async throws {
        let admin = try TestEnvironment.redis(connections: 1)
        defer { admin.shutdown() }
        let user = "cityos-test-\(UInt32.random(in: 0...UInt32.max))"
        let password = "p@ss:\(UInt32.random(in: 0...UInt32.max))"
        try await admin.send("ACL", "SETUSER", .string(user), "on", .string(">" + password), "~*", "&*", "+@all")
        addTeardownBlock {
            let cleanup = try TestEnvironment.redis(connections: 1)
            _ = try? await cleanup.send("ACL", "DELUSER", .string(user))
            cleanup.shutdown()
        }
        var endpoint = try RedisEndpoint(url: try TestEnvironment.redisURL())
        endpoint.username = user
        endpoint.password = password
        let redis = RedisClient(.init(endpoint: endpoint, connections: 1))
        defer { redis.shutdown() }
        let whoami = try await redis.send("ACL", "WHOAMI").string
        XCTAssertEqual(whoami, user)

        endpoint.password = "wrong"
        let refused = RedisClient(.init(endpoint: endpoint, connections: 1))
        defer { refused.shutdown() }
        do {
            try await refused.send("PING")
            XCTFail("a wrong password must be refused")
        } catch {
            XCTAssertFalse("\(error)".contains(password), "\(error)")
        }
    }

    func testAClientReachesRedisOverItsUnixSocket() async throws {
        let redis = RedisClient(.init(endpoint: try RedisEndpoint(url: try TestEnvironment.redisSocketURL()), connections: 1))
        defer { redis.shutdown() }
        let key = "cityos-test-unix-\(UInt32.random(in: 0...UInt32.max))"
        try await redis.send("SET", .string(key), .string("over the socket"), .string("EX"), .int(60))
        // The same Redis as over TCP: what one wrote, the other reads.
        let tcp = try TestEnvironment.redis(connections: 1)
        defer { tcp.shutdown() }
        let read = try await tcp.send("GET", .string(key)).string
        XCTAssertEqual(read, "over the socket")
        let pong = try await redis.send("PING").string
        XCTAssertEqual(pong, "PONG")
    }
}
