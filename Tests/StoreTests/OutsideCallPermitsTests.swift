import Foundation
import PostgresNIO
import XCTest
@testable import Store

/// Transactions held across calls to outside services take a permit first: at most half the pool
/// (less the relay's listener), so that a service that hangs cannot hold every connection while
/// other jobs wait for one.
final class OutsideCallPermitsTests: XCTestCase {
    func testWaitersAreServedInTurnAndACancelledOneLeavesTheLine() async throws {
        let permits = Permits(1)
        try await permits.acquire()
        let order = Recorder<String>()
        let second = Task {
            try await permits.acquire()
            order.append("second")
        }
        try await eventually("the second waiter never joined the line") { permits.waiting == 1 }
        let cancelled = Task { try await permits.acquire() }
        try await eventually("the third waiter never joined the line") { permits.waiting == 2 }
        cancelled.cancel()
        do {
            try await cancelled.value
            XCTFail("a cancelled waiter got a permit")
        } catch is CancellationError {}
        XCTAssertEqual(permits.waiting, 1, "the cancelled waiter left the line")
        XCTAssertEqual(order.all, [], "nobody passes while the permit is held")

        permits.release()   // to the second waiter
        try await second.value
        XCTAssertEqual(order.all, ["second"])
        permits.release()
        // Nothing leaked: the one permit is free again.
        XCTAssertEqual(permits.free, 1)
        try await permits.acquire()
        permits.release()
        XCTAssertEqual(permits.waiting, 0)
    }

    /// A pool of 4: one permit. A transaction across an outside call that hangs holds it; a second
    /// such transaction waits for it, while other transactions still get connections.
    func testAHangingOutsideCallLeavesConnectionsForOtherTransactions() async throws {
        try await withTestDatabases(appConnections: 4) { databases in
            let database = databases.app
            XCTAssertEqual(database.outsideCalls.count, 1)
            let tenant = try await TenantFixture.create(in: database)
            let hanging = Latch()
            let first = Task {
                try await database.withTenantAcrossOutsideCalls(tenant.id) { connection in
                    _ = try await connection.query("SELECT 1", logger: TestDatabases.logger)
                    await hanging.wait()   // the outside service that does not answer
                }
            }
            try await eventually("the first transaction never took the permit") { database.outsideCalls.free == 0 }
            let second = Task {
                try await database.withTenantAcrossOutsideCalls(tenant.id) { connection in
                    try await connection.values("SELECT count(*) FROM stores", as: Int64.self).first ?? -1
                }
            }
            try await eventually("the second transaction across an outside call did not wait") {
                database.outsideCalls.waiting == 1
            }
            // Other work still gets connections, three times over.
            for _ in 0..<3 {
                let stores = try await database.withTenant(tenant.id) { connection in
                    try await connection.values("SELECT count(*) FROM stores", as: Int64.self)
                }
                XCTAssertEqual(stores, [1])
            }
            XCTAssertEqual(database.outsideCalls.waiting, 1, "still waiting while the first hangs")
            hanging.open()
            try await first.value
            let counted = try await second.value
            XCTAssertEqual(counted, 1)
        }
    }
}
