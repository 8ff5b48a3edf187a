import Foundation
import PostgresNIO
import XCTest
@testable import Store

/// The limits a pool's sessions are held to (`Database.SessionLimits`): a statement stuck
/// behind a lock fails instead of holding its connection for as long as the lock lasts.
final class SessionLimitsTests: XCTestCase {
    private let logger = TestDatabases.logger

    func testEachSessionOfTheWorkersPoolIsHeldToItsLimits() async throws {
        let limited = try Database(url: TestDatabases.url("CITYOS_DATABASE_URL"), maximumConnections: 2,
                                   limits: .init(statement: .seconds(5), lock: .milliseconds(300),
                                                 idleInTransaction: .seconds(60)),
                                   logger: logger)
        try await withTestDatabases { databases in
            try await withRunning([limited]) {
                let shown = try await limited.withoutTenant { connection in
                    var values: [String] = []
                    for setting in ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"] {
                        values += try await connection.values("SELECT current_setting(\(setting))", as: String.self)
                    }
                    return values
                }
                XCTAssertEqual(shown, ["5s", "300ms", "1min"])

                // One transaction holds a tenant's row; the limited session's update of it waits
                // 300 ms for the lock, then fails (55P03), and its connection is free again.
                let tenant = try await TenantFixture.create(in: databases.app)
                let (released, release) = AsyncStream.makeStream(of: Void.self)
                let (locked, didLock) = AsyncStream.makeStream(of: Void.self)
                let app = databases.app
                let logger = TestDatabases.logger
                let holder = Task {
                    try await app.withTenant(tenant.id) { connection in
                        _ = try await connection.query("SELECT id FROM tenants WHERE id = \(tenant.id) FOR UPDATE",
                                                       logger: logger)
                        didLock.yield()
                        for await _ in released { break }
                    }
                }
                for await _ in locked { break }
                let started = ContinuousClock.now
                let error = await thrownError {
                    try await limited.withTenant(tenant.id) { connection in
                        _ = try await connection.query("UPDATE tenants SET name = name WHERE id = \(tenant.id)",
                                                       logger: self.logger)
                    }
                }
                let waited = ContinuousClock.now - started
                release.finish()
                try await holder.value
                XCTAssertEqual(error.map { PostgresServerMessage($0).sqlState }, "55P03",
                               "expected lock_timeout, got \(String(describing: error))")
                XCTAssertLessThan(waited, .seconds(10), "the statement gave up near its lock timeout")
                let after = try await limited.withTenant(tenant.id) { connection in
                    try await connection.values("SELECT count(*) FROM tenants WHERE id = \(tenant.id)", as: Int64.self)
                }
                XCTAssertEqual(after, [1], "the pool works on once the lock is gone")
            }
        }
    }

    func testLimitsBecomeStartupParametersInMilliseconds() {
        let limits = Database.SessionLimits(statement: .seconds(900), lock: .milliseconds(1500))
        XCTAssertEqual(limits.startupParameters.map { "\($0.0)=\($0.1)" }, ["statement_timeout=900000", "lock_timeout=1500"])
        XCTAssertTrue(Database.SessionLimits().startupParameters.isEmpty)
    }
}
