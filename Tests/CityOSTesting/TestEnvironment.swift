import Foundation
import Logging
import Redis
import XCTest

/// Where the test servers are, from the environment the test command (`make test`) sets.
/// A missing variable fails the test with a message saying how to run it — never a skip.
public enum TestEnvironment {
    public static func value(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            XCTFail("\(name) is not set: run the tests with `make test` (scripts/test.sh), which starts Redis and PostgreSQL",
                    file: file, line: line)
            throw TestSetupError.missing(name)
        }
        return value
    }

    public static func redisURL() throws -> String { try value("CITYOS_REDIS_URL") }

    /// The test Redis over its Unix socket (`unix://…`).
    public static func redisSocketURL() throws -> String { try value("CITYOS_TEST_REDIS_SOCKET_URL") }

    /// A client on the test Redis.
    public static func redis(connections: Int = 2) throws -> RedisClient {
        let endpoint = try RedisEndpoint(url: try redisURL())
        return RedisClient(.init(endpoint: endpoint, connections: connections))
    }

    /// A Redis key namespace of the test's own, so tests never see each other's queues.
    public static func uniqueNamespace(_ label: String = "t") -> String {
        "cityos-test-\(label)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The repository's `Schedules/`: the schedules the platform ships.
    public static let shippedSchedulesDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Schedules").path

    /// A port nothing listens on now (the kernel's pick for a socket bound to port 0), for a
    /// child process that must be told its port before it starts.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestSetupError.missing("a free port (errno \(errno))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    public static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = ProcessInfo.processInfo.environment["CITYOS_TEST_LOG"] == nil ? .critical : .debug
        return logger
    }
}

public enum TestSetupError: Error { case missing(String) }

/// Waits until `condition` holds, checking every `interval`; fails with `message` after `timeout`.
/// For state that lives in another process (Redis, PostgreSQL) and has no event to await.
public func eventually(
    timeout: Duration = .seconds(10), interval: Duration = .milliseconds(20), _ message: @autoclosure () -> String,
    file: StaticString = #filePath, line: UInt = #line, _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    XCTFail("timed out after \(timeout): \(message())", file: file, line: line)
    throw TestSetupError.missing("condition")
}
