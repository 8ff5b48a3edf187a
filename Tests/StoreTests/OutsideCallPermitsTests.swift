import Foundation
import PostgresNIO
import XCTest
@testable import Store

/// Transactions held across calls to outside services take a permit of their lane first (orders,
/// one product's sync, a reconciliation's batch). A service that hangs cannot hold every
/// connection while other jobs wait for one, and a lane waits only for its own.
final class OutsideCallPermitsTests: XCTestCase {
    /// Waits for `task` at most `seconds`, cancelling it then: a task's value ignores cancellation,
    /// so a bare timeout around it would wait on.
    private func value<T: Sendable>(of task: Task<T, any Error>, within seconds: Double = 10,
                                    _ what: String) async throws -> T {
        try await withTimeout(seconds, what) {
            try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
        }
    }

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
        let fourth = Task {
            try await permits.acquire()
            order.append("fourth")
        }
        try await eventually("the fourth waiter never joined the line") { permits.waiting == 3 }
        cancelled.cancel()
        do {
            try await value(of: cancelled, "the cancelled waiter to leave")
            XCTFail("a cancelled waiter got a permit")
        } catch is CancellationError {}
        XCTAssertEqual(permits.waiting, 2, "the cancelled waiter left the line")
        XCTAssertEqual(order.all, [], "nobody passes while the permit is held")

        permits.release()   // to the second waiter, first in line
        try await value(of: second, "the second waiter to pass")
        XCTAssertEqual(order.all, ["second"], "the fourth still waits")
        permits.release()
        try await value(of: fourth, "the fourth waiter to pass")
        XCTAssertEqual(order.all, ["second", "fourth"])
        permits.release()
        XCTAssertEqual(permits.free, 1, "nothing leaked: the one permit is free again")
        XCTAssertEqual(permits.waiting, 0)
    }

    /// A pool of 4: one orders permit. A transaction across an outside call that hangs holds it; a
    /// second such transaction waits for it, while other transactions still get connections.
    func testAHangingOutsideCallLeavesConnectionsForOtherTransactions() async throws {
        try await withTestDatabases(appConnections: 4) { databases in
            let database = databases.app
            XCTAssertEqual(database.outsideOrders.count, 1)
            let tenant = try await TenantFixture.create(in: database)
            let hanging = Latch()
            defer { hanging.open() }   // never leave the first transaction stuck, should a wait below fail
            let first = Task {
                try await database.withTenantAcrossOutsideCalls(tenant.id, lane: .orders) { connection in
                    _ = try await connection.query("SELECT 1", logger: TestDatabases.logger)
                    await hanging.wait()   // the outside service that does not answer
                }
            }
            try await eventually("the first transaction never took the permit") { database.outsideOrders.free == 0 }
            let second = Task {
                try await database.withTenantAcrossOutsideCalls(tenant.id, lane: .orders) { connection in
                    try await connection.values("SELECT count(*) FROM stores", as: Int64.self).first ?? -1
                }
            }
            try await eventually("the second transaction across an outside call did not wait") {
                database.outsideOrders.waiting == 1
            }
            // Other work still gets connections, three times over.
            for _ in 0..<3 {
                let stores = try await withTimeout(10, "a plain transaction while the outside call hangs") {
                    try await database.withTenant(tenant.id) { connection in
                        try await connection.values("SELECT count(*) FROM stores", as: Int64.self)
                    }
                }
                XCTAssertEqual(stores, [1])
            }
            XCTAssertEqual(database.outsideOrders.waiting, 1, "still waiting while the first hangs")
            hanging.open()
            try await value(of: first, "the first transaction to end")
            let counted = try await value(of: second, "the second transaction to run")
            XCTAssertEqual(counted, 1)
        }
    }

    /// The default pool of 8: a reconciliation batch holds a product's lock across its calls, and a
    /// sync of that product waits on the lock, holding the one sync permit. Neither keeps an order's
    /// transaction waiting, nor a second sync from waiting its turn rather than taking a connection.
    func testABatchAndTheSyncsWaitingOnItsLocksKeepNoOrderWaiting() async throws {
        try await withTestDatabases(appConnections: 8) { databases in
            let database = databases.app
            XCTAssertEqual([database.outsideOrders.count, database.outsideSyncs.count, database.outsideBatches.count], [3, 1, 1])
            let tenant = try await TenantFixture.create(in: database)
            let hanging = Latch()
            defer { hanging.open() }
            let lock = "SELECT pg_advisory_xact_lock(hashtextextended('sync:test-product', 0))"
            let batch = Task {
                try await database.withTenantAcrossOutsideCalls(tenant.id, lane: .batch) { connection in
                    _ = try await connection.query(PostgresQuery(unsafeSQL: lock), logger: TestDatabases.logger)
                    await hanging.wait()   // a page of products' calls to Payload
                }
            }
            try await eventually("the batch never took its permit") { database.outsideBatches.free == 0 }
            let sync = Task {
                try await database.withTenantAcrossOutsideCalls(tenant.id, lane: .sync) { connection in
                    _ = try await connection.query(PostgresQuery(unsafeSQL: lock), logger: TestDatabases.logger)
                }
            }
            try await eventually("the product's sync never took its permit") { database.outsideSyncs.free == 0 }
            let secondSync = Task {
                try await database.withTenantAcrossOutsideCalls(tenant.id, lane: .sync) { _ in }
            }
            try await eventually("a second sync did not wait its turn") { database.outsideSyncs.waiting == 1 }
            for _ in 0..<3 {
                let handled = try await withTimeout(10, "an order's transaction while the syncs wait on the batch") {
                    try await database.withTenantAcrossOutsideCalls(tenant.id, lane: .orders) { connection in
                        try await connection.values("SELECT count(*) FROM stores", as: Int64.self)
                    }
                }
                XCTAssertEqual(handled, [1])
            }
            hanging.open()
            try await value(of: batch, "the batch to end")
            try await value(of: sync, "the sync to get its lock")
            try await value(of: secondSync, "the second sync to run")
        }
    }
}
