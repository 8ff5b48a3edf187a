import Foundation
import PostgresNIO
import XCTest
@testable import Store

/// Transactions held across calls to outside services take a permit of their lane first: event
/// handlers at most half the pool (less the relay's listener), batches one. A service that hangs
/// cannot hold every connection while other jobs wait for one, and a long batch never keeps the
/// handlers waiting.
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
        let fourth = Task {
            try await permits.acquire()
            order.append("fourth")
        }
        try await eventually("the fourth waiter never joined the line") { permits.waiting == 3 }
        cancelled.cancel()
        let outcome = try await withTimeout(5, "the cancelled waiter to leave") { await cancelled.result }
        guard case .failure(let error) = outcome, error is CancellationError else {
            return XCTFail("a cancelled waiter got a permit: \(outcome)")
        }
        XCTAssertEqual(permits.waiting, 2, "the cancelled waiter left the line")
        XCTAssertEqual(order.all, [], "nobody passes while the permit is held")

        permits.release()   // to the second waiter, first in line
        try await withTimeout(5, "the second waiter to pass") { try await second.value }
        XCTAssertEqual(order.all, ["second"], "the fourth still waits")
        permits.release()
        try await withTimeout(5, "the fourth waiter to pass") { try await fourth.value }
        XCTAssertEqual(order.all, ["second", "fourth"])
        permits.release()
        XCTAssertEqual(permits.free, 1, "nothing leaked: the one permit is free again")
        XCTAssertEqual(permits.waiting, 0)
    }

    /// A pool of 4: one handler permit. A transaction across an outside call that hangs holds it; a
    /// second such transaction waits for it, while other transactions still get connections.
    func testAHangingOutsideCallLeavesConnectionsForOtherTransactions() async throws {
        try await withTestDatabases(appConnections: 4) { databases in
            let database = databases.app
            XCTAssertEqual(database.outsideCalls.count, 1)
            let tenant = try await TenantFixture.create(in: database)
            let hanging = Latch()
            defer { hanging.open() }   // never leave the first transaction stuck, should a wait below fail
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
                let stores = try await withTimeout(10, "a plain transaction while the outside call hangs") {
                    try await database.withTenant(tenant.id) { connection in
                        try await connection.values("SELECT count(*) FROM stores", as: Int64.self)
                    }
                }
                XCTAssertEqual(stores, [1])
            }
            XCTAssertEqual(database.outsideCalls.waiting, 1, "still waiting while the first hangs")
            hanging.open()
            try await withTimeout(10, "the first transaction to end") { try await first.value }
            let counted = try await withTimeout(10, "the second transaction to run") { try await second.value }
            XCTAssertEqual(counted, 1)
        }
    }

    /// A batch (a reconciliation's page of products) held for minutes takes the batch lane's permit,
    /// not one of the handlers': an order's delivery created meanwhile does not wait for it.
    func testALongBatchDoesNotKeepTheHandlersWaiting() async throws {
        try await withTestDatabases(appConnections: 4) { databases in
            let database = databases.app
            let tenant = try await TenantFixture.create(in: database)
            let hanging = Latch()
            defer { hanging.open() }
            let batch = Task {
                try await database.withTenantAcrossOutsideCalls(tenant.id, lane: .batch) { _ in await hanging.wait() }
            }
            try await eventually("the batch never took its permit") { database.outsideBatches.free == 0 }
            let second = Task {
                try await database.withTenantAcrossOutsideCalls(tenant.id, lane: .batch) { _ in }
            }
            try await eventually("a second batch did not wait for the first") { database.outsideBatches.waiting == 1 }
            let handled = try await withTimeout(10, "a handler's transaction while a batch runs") {
                try await database.withTenantAcrossOutsideCalls(tenant.id) { connection in
                    try await connection.values("SELECT count(*) FROM stores", as: Int64.self)
                }
            }
            XCTAssertEqual(handled, [1])
            hanging.open()
            try await withTimeout(10, "the batches to end") {
                try await batch.value
                try await second.value
            }
        }
    }
}
