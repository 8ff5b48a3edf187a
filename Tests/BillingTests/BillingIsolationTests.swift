import CityOSTesting
import Foundation
@testable import Jobs
import PostgresNIO
import Store
import XCTest

/// Row-level security on the billing tables: a tenant sees and writes only its own plans,
/// subscriptions, invoices and payment attempts; a platform sweep reads all and writes none.
final class BillingIsolationTests: XCTestCase {
    func testATenantSeesNoneOfAnotherTenantsBillingRowsAndCannotWriteThem() async throws {
        try await BillingWorld.run { world in
            let a = try await world.makeTenant()
            let b = try await world.makeTenant()
            for tenant in [a, b] {
                let plan = try await world.makePlan(tenant)
                let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1).first)
                try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            }
            let tables = ["plans", "subscriptions", "invoices", "payment_attempts"]
            for table in tables {
                let own = try await world.scalar(a, "SELECT count(*) FROM \(table)")
                let others = try await world.scalar(a, "SELECT count(*) FROM \(table) WHERE tenant_id <> '\(a.uuidString.lowercased())'")
                XCTAssertEqual(own, 1, "\(table): tenant A sees its one row")
                XCTAssertEqual(others, 0, "\(table): tenant A sees none of tenant B's")
            }
            let updated = try await world.app.withTenant(a) { connection in
                let result = try await connection.query(
                    "UPDATE subscriptions SET status = 'canceled', canceled_at = now() WHERE tenant_id = \(b)", logger: BillingWorld.logger)
                var count = 0
                for try await _ in result { count += 1 }
                return count
            }
            XCTAssertEqual(updated, 0)
            let bState = try await world.scalar(b, "SELECT count(*) FROM subscriptions WHERE status = 'active'")
            XCTAssertEqual(bState, 1, "tenant B's subscription is untouched")

            let planOfB = try await world.app.withTenant(b) { connection in
                let rows = try await connection.query("SELECT id FROM plans", logger: BillingWorld.logger)
                for try await id in rows.decode(UUID.self) { return id }
                throw BillingError.unknownPlan("of B")
            }
            do {
                try await world.app.withTenant(a) { connection in
                    try await connection.query("""
                        INSERT INTO subscriptions (tenant_id, id, customer_id, payment_method, plan_id, current_period_start, current_period_end)
                        VALUES (\(b), \(UUID()), 'cus_intruder', 'pm_card_visa', \(planOfB), now(), now())
                        """, logger: BillingWorld.logger)
                }
                XCTFail("writing a row of tenant B as tenant A must be rejected")
            } catch {
                XCTAssertEqual(PostgresServerMessage(error).sqlState, "42501", "a row-level security violation: \(error)")
            }
            // A sweep reads both tenants' invoices, and cannot write one.
            let seen = try await world.app.withPlatformSweep { connection in
                let rows = try await connection.query(
                    "SELECT count(*)::int8 FROM invoices WHERE tenant_id IN (\(a), \(b))", logger: BillingWorld.logger)
                for try await count in rows.decode(Int64.self) { return count }
                return 0
            }
            XCTAssertEqual(seen, 2)
            do {
                try await world.app.withPlatformSweep { connection in
                    try await connection.query("UPDATE invoices SET last_failure = 'x' WHERE tenant_id = \(a)", logger: BillingWorld.logger)
                }
                XCTFail("a platform sweep must not write tenant rows")
            } catch {
                XCTAssertEqual(PostgresServerMessage(error).sqlState, "42501", "\(error)")
            }
        }
    }

    /// Subscription ids are unique per tenant only: two tenants may hold the same one (a caller of
    /// `subscription.create` chooses it). One cycle bills both: the invoice jobs it fans out are
    /// named by tenant too, so neither is taken for the other's (it was dropped as a duplicate).
    func testOneCycleBillsTwoTenantsSubscriptionsOfTheSameID() async throws {
        try await BillingWorld.run { world in
            let shared = UUID()
            let tenants = [try await world.makeTenant(), try await world.makeTenant()]
            let at = world.clock.now()
            for tenant in tenants {
                let plan = try await world.makePlan(tenant)
                try await world.app.withTenant(tenant) { connection in
                    try await connection.query("""
                        INSERT INTO subscriptions (tenant_id, id, customer_id, payment_method, plan_id, current_period_start, current_period_end)
                        VALUES (\(tenant), \(shared), 'cus_shared', 'pm_card_visa', \(plan), \(at), \(at))
                        """, logger: BillingWorld.logger)
                }
            }
            let before = try await world.app.withPlatformSweep { connection in
                let rows = try await connection.query("SELECT coalesce(max(id), 0)::int8 FROM outbox", logger: BillingWorld.logger)
                for try await id in rows.decode(Int64.self) { return id }
                return 0
            }
            // Every tenant's due subscriptions, as the schedule runs it (no relay here: the fan-out
            // stays in the outbox, and is removed below).
            try await world.run(BillingCycleJob(database: world.app, clock: world.clock), .init(), tenant: nil)
            for tenant in tenants {
                let fannedOut = try await world.scalar(tenant, """
                    SELECT count(*) FROM outbox WHERE id > \(before) AND kind = 'billing.invoice' AND args->>'subscription_id' = '\(shared.uuidString.lowercased())'
                    """)
                XCTAssertEqual(fannedOut, 1, "tenant \(tenant): its subscription's invoice job")
            }
            try await world.app.withPlatformSweep { connection in
                try await connection.query("DELETE FROM outbox WHERE id > \(before)", logger: BillingWorld.logger)
            }
        }
    }

    /// A suspended tenant's customers are neither invoiced by the cycle nor chased by the retry
    /// sweep; an active tenant's beside it are. (Attempts already under way still settle.)
    func testTheSweepsLeaveASuspendedTenantsCustomersAlone() async throws {
        try await BillingWorld.run { world in
            let active = try await world.makeTenant()
            let suspended = try await world.makeTenant()
            for tenant in [active, suspended] {
                let plan = try await world.makePlan(tenant)
                try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "due")
                // And an open invoice whose next dunning attempt is due.
                let chased = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "chased").first)
                try await world.openInvoice(tenant, subscription: chased, amount: 2_900,
                                            nextAttemptAt: world.clock.now().addingTimeInterval(-3_600))
                try await world.app.withTenant(tenant) { connection in
                    try await connection.query("UPDATE subscriptions SET status = 'past_due', current_period_end = now() + interval '1 month' WHERE id = \(chased)",
                                               logger: BillingWorld.logger)
                }
            }
            try await world.app.withTenant(suspended) { connection in
                try await connection.query("UPDATE tenants SET status = 'suspended' WHERE id = \(suspended)", logger: BillingWorld.logger)
            }
            let before = try await world.app.withPlatformSweep { connection in
                let rows = try await connection.query("SELECT coalesce(max(id), 0)::int8 FROM outbox", logger: BillingWorld.logger)
                for try await id in rows.decode(Int64.self) { return id }
                return 0
            }
            try await world.run(BillingCycleJob(database: world.app, clock: world.clock), .init(), tenant: nil)
            try await world.run(PaymentsRetryJob(database: world.app, clock: world.clock), .init(), tenant: nil)
            let fannedOut = [
                try await world.scalar(active, "SELECT count(*) FROM outbox WHERE id > \(before)"),
                try await world.scalar(suspended, "SELECT count(*) FROM outbox WHERE id > \(before)"),
            ]
            XCTAssertEqual(fannedOut, [2, 0], "the active tenant's due subscription and due retry; nothing of the suspended one's")
            // Nor does an invoice job already on its way (fanned out before the suspension) charge.
            let due = try await world.app.withTenant(suspended) { connection in
                try await connection.query("SELECT id FROM subscriptions WHERE customer_id = 'due-1'", logger: BillingWorld.logger)
                    .collect().first?.decode(UUID.self)
            }
            try await world.run(world.invoiceJob, .init(subscriptionID: try unwrap(due)), tenant: suspended)
            let invoiced = try await world.scalar(suspended, "SELECT count(*) FROM invoices WHERE subscription_id = '\(try unwrap(due).uuidString.lowercased())'")
            XCTAssertEqual(invoiced, 0, "no invoice for a suspended tenant's customer")
            let attempts = try await world.scalar(suspended, "SELECT count(*) FROM payment_attempts")
            XCTAssertEqual(attempts, 0, "no attempt on its open invoice either")
            try await world.app.withPlatformSweep { connection in
                try await connection.query("DELETE FROM outbox WHERE id > \(before)", logger: BillingWorld.logger)
            }
        }
    }
}
