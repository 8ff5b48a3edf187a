import CityOSTesting
import Redis
import XCTest

/// A command sent on a connection that is closing or closed ends with `connectionClosed`:
/// it must never wait forever (a worker's wake-up BLPOP raced its own shutdown this way).
final class ClosedConnectionTests: XCTestCase {
    func testSendOnAClosedConnectionFailsInsteadOfHanging() async throws {
        let redis = try TestEnvironment.redis()
        defer { redis.shutdown() }
        for _ in 0..<20 {
            let connection = try await redis.dedicatedConnection()
            connection.close()
            // Once closed (no event to await from outside the binding: bounded polling).
            for _ in 0..<200 where connection.isActive { try await Task.sleep(for: .milliseconds(5)) }
            XCTAssertFalse(connection.isActive)
            try await Task.sleep(for: .milliseconds(20))   // let the channel finish closing (handlers removed)
            do {
                _ = try await connection.send(RedisCommand("PING"), timeout: .seconds(30))
                XCTFail("PING on a closed connection answered")
            } catch {
                XCTAssertEqual(error, .connectionClosed(address: connection.address))
            }
        }
    }
}
