import CityOSTesting
import Foundation
@testable import Jobs
import Queue
import XCTest

/// `money.reconcile` across tenants: its findings in the status (`GET /v1/status`) and metrics
/// (`GET /metrics`) of a running ingress.
final class MoneyReconcileTests: XCTestCase {
    private func reconcile(_ world: BillingWorld) async throws -> StatusCheck {
        try await world.run(MoneyReconcileJob(database: world.app, checks: world.checks), .object([:]), tenant: nil)
        return try unwrap(try await world.checks.read().first { $0.name == "money.reconcile" })
    }

    func testAPaidInvoiceWithoutItsSucceededAttemptIsReportedInTheStatusAndMetrics() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 5_000)
            let ids = try await world.makeSubscriptions(tenant, plan: plan, count: 3)
            for id in ids { try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant) }
            // The database is shared by the whole suite: compare with what was there before.
            let before = try await reconcile(world)
            XCTAssertEqual(Set(before.invariants.keys), Set(MoneyReconcileJob.invariants.map(\.name)), "every invariant is reported")
            XCTAssertEqual(before.staleAfterSeconds, 26 * 3600, "a day and two hours without a run reads as failing")
            XCTAssertEqual(before.read(at: before.checkedAt + 27 * 3_600_000).invariants[StatusCheck.notPublished], 1)

            // A paid invoice no attempt paid (what a bug or a hand edit would leave).
            let forged = UUID()
            let subscription = try XCTUnwrap(ids.first)
            try await world.app.withTenant(tenant) { connection in
                try await connection.query("""
                    INSERT INTO invoices (tenant_id, id, subscription_id, plan_id, period_start, period_end, amount, currency,
                                          status, paid_at, payment_intent_id)
                    VALUES (\(tenant), \(forged), \(subscription), \(plan), '2030-01-01', '2030-02-01', 5000, 'USD',
                            'paid', now(), 'pi_forged')
                    """, logger: BillingWorld.logger)
            }
            let after = try await reconcile(world)
            XCTAssertEqual(after.invariants["paid_invoice_attempt"], (before.invariants["paid_invoice_attempt"] ?? 0) + 1)
            XCTAssertFalse(after.ok)
            XCTAssertEqual(after.invariants["attempt_invoice"], before.invariants["attempt_invoice"],
                           "the three real invoices each have their one succeeded attempt")

            let ingress = try await RunningIngress.start(queue: world.queue, namespace: world.checks.namespace)
            do {
                let status = try await ingress.call("GET", "/v1/status", http: world.http)
                XCTAssertEqual(status.status, 200)
                let checks = try XCTUnwrap(status.json?["checks"] as? [[String: Any]], status.text)
                let money = try XCTUnwrap(checks.first { $0["name"] as? String == "money.reconcile" })
                XCTAssertEqual(money["ok"] as? Bool, false)
                XCTAssertEqual((money["invariants"] as? [String: Any])?["paid_invoice_attempt"] as? Int,
                               after.invariants["paid_invoice_attempt"])
                let metrics = try await ingress.call("GET", "/metrics", http: world.http)
                XCTAssertTrue(metrics.text.contains("cityos_check_ok{check=\"money.reconcile\"} 0"), metrics.text)
                XCTAssertTrue(metrics.text.contains(
                    "cityos_check_mismatches{check=\"money.reconcile\",invariant=\"paid_invoice_attempt\"} \(after.invariants["paid_invoice_attempt"] ?? -1)"),
                    metrics.text)
            } catch {
                await ingress.stop()
                throw error
            }
            await ingress.stop()
        }
    }
}
