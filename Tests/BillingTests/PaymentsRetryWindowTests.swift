import CityOSTesting
import Foundation
@testable import Jobs
import PostgresNIO
import Queue
import Store
import XCTest

/// `payments.retry`'s windows for attempts left pending, at the production limits, by the attempts'
/// real age (PostgreSQL's clock): resumed under their own key up to 23 h, left alone from 23 h to
/// 23.5 h (a send may still be running), settled from Stripe's record from 23.5 h to 7 days, an
/// operator's after; one Stripe answered as still settling is read again by every run.
final class PaymentsRetryWindowTests: XCTestCase {
    /// An invoice of `subscription` for `amount` USD cents whose attempt 1, charging `customer`, was
    /// made `age` ago (an SQL interval) and is still pending: its answer lost, or with `intent`,
    /// answered as still settling; `closed`: the invoice `uncollectible`, its subscription canceled
    /// meanwhile. Returns the invoice's id.
    private static func pendingAttempt(_ world: BillingWorld, tenant: UUID, subscription: UUID, amount: Int64, age: String,
                                       customer: String, intent: String? = nil, closed: Bool = false) async throws -> UUID {
        let invoice = UUID()
        let status = closed ? "uncollectible" : "open"
        let failure: String? = closed ? "subscription canceled" : nil
        try await world.app.withTenant(tenant) { connection in
            try await connection.query("""
                INSERT INTO invoices (tenant_id, id, subscription_id, plan_id, period_start, period_end, amount, currency,
                                      attempt_count, status, last_failure)
                SELECT \(tenant), \(invoice), id, plan_id, current_period_end, current_period_end + interval '1 month',
                       \(amount), 'USD', 1, \(status), \(failure)
                FROM subscriptions WHERE id = \(subscription)
                """, logger: BillingWorld.logger)
            try await connection.query("""
                INSERT INTO payment_attempts (tenant_id, id, invoice_id, attempt, idempotency_key, amount, currency,
                                              customer_id, payment_method, payment_intent_id, created_at)
                SELECT tenant_id, gen_random_uuid(), id, 1, 'invoice_' || id || '_attempt_1', amount, currency,
                       \(customer), 'pm_card_visa', \(intent), now() - \(age)::interval
                FROM invoices WHERE id = \(invoice)
                """, logger: BillingWorld.logger)
        }
        return invoice
    }

    /// Runs one delivery of `payments.retry` for `tenant` under job id `id`, and returns the ids of
    /// the `billing.invoice` jobs it put in the outbox, deleted there (no other test's relay runs them).
    private static func runPaymentsRetry(_ world: BillingWorld, tenant: UUID, id: String) async throws -> [String] {
        try await world.run(PaymentsRetryJob(database: world.app, clock: world.clock), .init(tenantID: tenant),
                            tenant: nil, id: id)
        return try await world.app.withPlatformSweep { connection in
            let rows = try await connection.query("""
                DELETE FROM outbox WHERE kind = 'billing.invoice' AND tenant_id = \(tenant) RETURNING job_id
                """, logger: BillingWorld.logger)
            var ids: [String] = []
            for try await id in rows.decode(String.self) { ids.append(id) }
            return ids
        }
    }

    func testPendingAttemptsAreResumedLeftAloneOrSettledFromTheRecordByTheirAge() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 1_300)
            let ages = ["30 minutes", "2 hours", "23 hours 10 minutes", "24 hours", "8 days", "30 hours"]
            let subscriptions = try await world.makeSubscriptions(tenant, plan: plan, count: ages.count, prefix: "window")
            var invoices: [String: UUID] = [:]
            for (index, (age, subscription)) in zip(ages, subscriptions).enumerated() {
                // With a PaymentIntent: answered as still processing.
                invoices[age] = try await Self.pendingAttempt(world, tenant: tenant, subscription: subscription, amount: 1_300,
                                                              age: age, customer: "window-\(index + 1)",
                                                              intent: age == "30 hours" ? "pi_still_processing" : nil)
            }

            let runID = JobID.make()
            let fannedOut = try await Self.runPaymentsRetry(world, tenant: tenant, id: runID)
            func id(_ age: String, _ suffix: String) throws -> String {
                JobID.derived(from: "billing.invoice:\(tenant.uuidString.lowercased()):\(try XCTUnwrap(invoices[age]).uuidString.lowercased()):attempt:1:\(suffix)")
            }
            XCTAssertEqual(Set(fannedOut), [try id("2 hours", "resume"), try id("24 hours", "settle"),
                                            try id("30 hours", "check:\(runID)")],
                           "30 minutes: too young; 23 h 10 min: a send may still run; 8 days: an operator's")

            // The settling one is read again by the next run, under that run's id; the others are
            // fanned out once (their ids are taken).
            let nextRun = JobID.make()
            let again = try await Self.runPaymentsRetry(world, tenant: tenant, id: nextRun)
            XCTAssertTrue(again.contains(try id("30 hours", "check:\(nextRun)")), "\(again)")

            // The jobs themselves, at the production limits (23 h, 23.5 h), on the sandbox.
            let job = world.invoiceJob
            try await world.run(job, .init(subscriptionID: subscriptions[1]), tenant: tenant)
            let resumed = try await world.attempts(tenant, invoice: try XCTUnwrap(invoices["2 hours"]))
            XCTAssertEqual(resumed.map(\.status), ["succeeded"], "resent under its own key: Stripe charges it once")

            try await world.run(job, .init(subscriptionID: subscriptions[2]), tenant: tenant)
            let waiting = try await world.attempts(tenant, invoice: try XCTUnwrap(invoices["23 hours 10 minutes"]))
            XCTAssertEqual(waiting.map(\.status), ["pending"], "never resent past 23 h, not settled before 23.5 h")

            let heldBefore = try await world.paymentIntentsHeld()
            try await world.run(job, .init(subscriptionID: subscriptions[3]), tenant: tenant)
            let settled = try await world.attempts(tenant, invoice: try XCTUnwrap(invoices["24 hours"]))
            XCTAssertEqual(settled.map(\.status), ["refused", "succeeded"],
                           "Stripe has no PaymentIntent for attempt 1: never made; attempt 2 charged at once")
            XCTAssertEqual(settled.first?.decline, "attempt_never_made")
            let heldAfter = try await world.paymentIntentsHeld()
            XCTAssertEqual(heldAfter, heldBefore + 1, "one charge: attempt 2's")
        }
    }

    /// A due retry's job id names the attempt and the day: the sweeps fan out one job for it (the relay drops an
    /// id it has seen). Once the tenant was suspended and is active again, a new one: the job fanned
    /// out before may have found the tenant suspended and made no attempt.
    func testADueRetryIsFannedOutOnceAndAgainAfterTheTenantIsActiveAgain() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 1_300)
            let subscription = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "due").first)
            try await world.openInvoice(tenant, subscription: subscription, amount: 1_300,
                                        nextAttemptAt: world.clock.now().addingTimeInterval(-60))
            let first = try await Self.runPaymentsRetry(world, tenant: tenant, id: JobID.make())
            world.clock.advance(by: 15 * 60)
            let later = try await Self.runPaymentsRetry(world, tenant: tenant, id: JobID.make())
            try await world.app.withTenant(tenant) { connection in
                try await connection.query("UPDATE tenants SET status = 'suspended' WHERE id = \(tenant)", logger: BillingWorld.logger)
            }
            let whileSuspended = try await Self.runPaymentsRetry(world, tenant: tenant, id: JobID.make())
            try await world.app.withTenant(tenant) { connection in
                try await connection.query("UPDATE tenants SET status = 'active' WHERE id = \(tenant)", logger: BillingWorld.logger)
            }
            let activeAgain = try await Self.runPaymentsRetry(world, tenant: tenant, id: JobID.make())
            XCTAssertEqual(first.count, 1)
            XCTAssertEqual(later, first, "the same job: the relay enqueues it once")
            XCTAssertEqual(whileSuspended, [], "a suspended tenant's customers are not chased")
            XCTAssertEqual(activeAgain.count, 1)
            XCTAssertNotEqual(activeAgain, first, "active again: a job of its own")
        }
    }

    /// An attempt left pending on an invoice closed while the charge was in flight (the subscription
    /// canceled, the invoice uncollectible, the answer lost) is never resumed, since a resend could
    /// charge for a subscription that has ended, but settled from Stripe's record like any other:
    /// money taken is booked, and an attempt that never reached Stripe is closed without a new one.
    func testAnAttemptPendingOnAClosedInvoiceIsSettledNeverResumed() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 1_500)
            let ages = ["2 hours", "24 hours", "25 hours"]
            let subscriptions = try await world.makeSubscriptions(tenant, plan: plan, count: ages.count, prefix: "closed")
            var invoices: [String: UUID] = [:]
            for (index, (age, subscription)) in zip(ages, subscriptions).enumerated() {
                try await world.app.withTenant(tenant) { connection in
                    try await connection.query("""
                        UPDATE subscriptions SET status = 'canceled', canceled_at = now() WHERE id = \(subscription)
                        """, logger: BillingWorld.logger)
                }
                invoices[age] = try await Self.pendingAttempt(world, tenant: tenant, subscription: subscription, amount: 1_500,
                                                              age: age, customer: "closed-\(index + 1)", closed: true)
            }
            // The 25-hour one did reach Stripe, and charged: only its answer was lost.
            let charged = ChargeAttempt(invoiceID: try XCTUnwrap(invoices["25 hours"]), subscriptionID: subscriptions[2],
                                        attempt: 1, amount: 1_500, currency: "USD", customer: "closed-3",
                                        paymentMethod: "pm_card_visa")
            let intent = try await BillingInvoiceJob.createIntent(charged, tenant: tenant, stripe: world.connectors.stripe)
            XCTAssertEqual(intent.status, .succeeded)

            let runID = JobID.make()
            let fannedOut = try await Self.runPaymentsRetry(world, tenant: tenant, id: runID)
            func id(_ age: String) throws -> String {
                JobID.derived(from: "billing.invoice:\(tenant.uuidString.lowercased()):\(try XCTUnwrap(invoices[age]).uuidString.lowercased()):attempt:1:settle")
            }
            XCTAssertEqual(Set(fannedOut), [try id("24 hours"), try id("25 hours")], "2 hours: a closed invoice is never resumed")

            let heldBefore = try await world.paymentIntentsHeld()
            for subscription in subscriptions {
                try await world.run(world.invoiceJob, .init(subscriptionID: subscription), tenant: tenant)
            }
            let young = try await world.attempts(tenant, invoice: try XCTUnwrap(invoices["2 hours"]))
            XCTAssertEqual(young.map(\.status), ["pending"], "not resent: the subscription has ended")
            let neverMade = try await world.attempts(tenant, invoice: try XCTUnwrap(invoices["24 hours"]))
            XCTAssertEqual(neverMade.map(\.status), ["refused"], "never reached Stripe: closed, and no attempt 2")
            XCTAssertEqual(neverMade.first?.decline, "attempt_never_made")
            let paid = try await world.attempts(tenant, invoice: try XCTUnwrap(invoices["25 hours"]))
            XCTAssertEqual(paid.map(\.status), ["succeeded"])
            XCTAssertEqual(paid.first?.intent, intent.id, "the money taken is booked")
            var statuses: [[String]] = []
            for subscription in subscriptions {
                statuses.append(try await world.invoices(tenant, subscription: subscription).map(\.status))
            }
            XCTAssertEqual(statuses, [["uncollectible"], ["uncollectible"], ["paid"]])
            let stillCanceled = try await world.scalar(tenant, """
                SELECT count(*) FROM subscriptions WHERE id = '\(subscriptions[2].uuidString)' AND status = 'canceled'
                """)
            XCTAssertEqual(stillCanceled, 1, "paid late, the subscription stays canceled")
            let heldAfter = try await world.paymentIntentsHeld()
            XCTAssertEqual(heldAfter, heldBefore, "nothing charged by any of it")
        }
    }

    /// A payment the customer was to make later (a bank transfer) still pending when the
    /// subscription is canceled: the invoice is closed, so the PaymentIntent is canceled at once
    /// (not left open for a week for a subscription that has ended) and the attempt failed, with no
    /// dunning after it.
    func testAPaymentToMakeLaterIsCanceledOnceItsInvoiceIsClosed() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 4_200)
            let made = try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "ended")
            let id = try XCTUnwrap(made.first)
            try await world.scriptRequiresAction(customer: "ended-1", nextAction: "display_bank_transfer_instructions")
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            let issued = try await world.invoices(tenant, subscription: id)
            let invoice = try XCTUnwrap(issued.first)
            let waiting = try await world.attempts(tenant, invoice: invoice.id)
            let intent = try XCTUnwrap(waiting.first?.intent, "waiting for the transfer, kept on the attempt")

            try await world.run(SubscriptionUpdateJob(database: world.app, clock: world.clock),
                                .init(subscriptionID: id, cancel: true), tenant: tenant)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            let attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["failed"])
            XCTAssertEqual(attempts.first?.decline, "payment_intent_action_required")
            let canceled = try await world.paymentIntent(intent)
            XCTAssertEqual(canceled["status"]?.stringValue, "canceled", "the customer can no longer pay a subscription that ended")
            let after = try await world.invoices(tenant, subscription: id)
            let closed = try XCTUnwrap(after.first)
            XCTAssertEqual(closed.status, "uncollectible")
            XCTAssertNil(closed.nextAttemptAt, "no dunning after it")
        }
    }
}
