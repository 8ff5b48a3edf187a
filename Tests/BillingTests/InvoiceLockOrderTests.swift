import CityOSTesting
import Foundation
@testable import Jobs
import PostgresNIO
import Synchronization
import XCTest

/// The billing book locks a subscription before its invoice, in every transaction that writes
/// both: an attempt's outcome (a webhook) racing a `prepare` of the same subscription (a retry
/// run) then waits for it instead of deadlocking, which PostgreSQL breaks by aborting one side.
final class InvoiceLockOrderTests: XCTestCase {
    /// A transaction holds the subscription as `prepare` does first, then, while an outcome waits
    /// for it, takes the invoice as `prepare` does next (NOWAIT: it must be free). Before, the
    /// outcome had locked the attempt and the invoice first, and waited for the subscription: the
    /// second lock found the invoice taken, and without NOWAIT the two waited on each other.
    func testAnOutcomeWaitsForTheSubscriptionBeforeTakingItsInvoice() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 2_500)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "locks").first)
            try await world.scriptProcessing(customer: "locks-1")
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            let intent = try unwrap(try await world.attempts(tenant, invoice: invoice.id).first?.intent, "settling")

            let (go, proceed) = AsyncStream.makeStream(of: Void.self)
            let held = Mutex<Int32?>(nil)
            let refused = Mutex<String?>(nil)
            let holder = Task {
                try await world.app.withTenant(tenant) { connection in
                    try await connection.query("SELECT 1 FROM subscriptions WHERE id = \(id) FOR UPDATE", logger: BillingWorld.logger)
                    for try await pid in try await connection.query("SELECT pg_backend_pid()", logger: BillingWorld.logger)
                        .decode(Int32.self) {
                        held.withLock { $0 = pid }
                    }
                    for await _ in go { break }
                    do {
                        try await connection.query("SELECT 1 FROM invoices WHERE id = \(invoice.id) FOR UPDATE NOWAIT",
                                                   logger: BillingWorld.logger)
                    } catch {
                        refused.withLock { $0 = (error as? PSQLError)?.serverInfo?[.sqlState] ?? "\(error)" }
                        throw error
                    }
                }
            }
            try await eventually("the subscription never locked") { held.withLock { $0 } != nil }
            let holderPID = try unwrap(held.withLock { $0 })
            let outcome = Task {
                try await world.book.recordSucceeded(.init(tenant: tenant, invoiceID: invoice.id, attempt: 1,
                                                           paymentIntentID: intent, amount: 2_500, currency: "usd", at: Date()))
            }
            // Waiting for a lock the holder has: a lock not granted whose blocker is the holder's backend.
            try await eventually("the outcome never waited for the holder's lock") {
                try await world.app.withPlatformSweep { connection in
                    var waiting = 0
                    for try await count in try await connection.query("""
                        SELECT count(*)::int FROM pg_locks l WHERE NOT l.granted AND \(holderPID) = ANY(pg_blocking_pids(l.pid))
                        """, logger: BillingWorld.logger).decode(Int.self) {
                        waiting = count
                    }
                    return waiting > 0
                }
            }
            proceed.yield()
            let holding = await holder.result
            let refusal = refused.withLock { $0 }
            XCTAssertNil(refusal, "the outcome took the invoice before the subscription (sqlstate \(refusal ?? ""))")
            try holding.get()
            let recorded = try await outcome.value
            XCTAssertEqual(recorded, .applied)
            let paid = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(paid.status, "paid")
        }
    }
}
