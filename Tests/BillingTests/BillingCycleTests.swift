import CityOSTesting
import Foundation
@testable import Jobs
import Queue
import XCTest

/// `billing.cycle` → `billing.invoice` through the outbox, Redis and a worker pool, against the
/// sandbox's Stripe, on the world's manual clock.
final class BillingCycleTests: XCTestCase {
    func testAThousandDueSubscriptionsBecomeAThousandInvoicesAndPaymentIntentsAndASecondCycleCreatesNone() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 2_900)
            try await world.makeSubscriptions(tenant, plan: plan, count: 1_000)
            try await world.withWorkers {
                try await world.runQueued(BillingCycleJob.self, .init(tenantID: tenant))
                try await eventually(timeout: .seconds(180), interval: .milliseconds(200), "1,000 invoices paid") {
                    try await world.scalar(tenant, "SELECT count(*) FROM invoices WHERE status = 'paid'") == 1_000
                }
                let invoices = try await world.scalar(tenant, "SELECT count(*) FROM invoices")
                XCTAssertEqual(invoices, 1_000)
                let calls = try await world.paymentIntentCalls()
                let held = try await world.paymentIntentsHeld()
                XCTAssertEqual(calls, 1_000, "one PaymentIntent request per invoice")
                XCTAssertEqual(held, 1_000, "one PaymentIntent per invoice in Stripe's state")
                let attempts = try await world.scalar(tenant, "SELECT count(*) FROM payment_attempts WHERE status = 'succeeded' AND amount = 2900")
                XCTAssertEqual(attempts, 1_000)
                let advanced = try await world.scalar(tenant, """
                    SELECT count(*) FROM subscriptions
                    WHERE status = 'active' AND current_period_start = '2027-01-01T00:00:00Z' AND current_period_end = '2027-02-01T00:00:00Z'
                    """)
                XCTAssertEqual(advanced, 1_000, "each paid invoice moved its subscription to the month it paid for")

            }
            // Again, on the same day, with no relay running (what it fans out stays in the outbox):
            // nothing is due, nothing is fanned out, created or charged.
            let cycle = BillingCycleJob(database: world.app, clock: world.clock)
            try await world.run(cycle, .init(tenantID: tenant), tenant: nil)
            try await world.run(PaymentsRetryJob(database: world.app, clock: world.clock), .init(tenantID: tenant), tenant: nil)
            let fannedOut = try await world.scalar(tenant, "SELECT count(*) FROM outbox WHERE tenant_id IS NOT NULL")
            XCTAssertEqual(fannedOut, 0, "the second cycle fanned out nothing")
            let invoicesAfter = try await world.scalar(tenant, "SELECT count(*) FROM invoices")
            let callsAfter = try await world.paymentIntentCalls()
            XCTAssertEqual(invoicesAfter, 1_000)
            XCTAssertEqual(callsAfter, 1_000)
        }
    }

    func testAMonthLaterTheNextPeriodIsInvoicedOnTheNewPlanAndTheSamePeriodNeverTwice() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let basic = try await world.makePlan(tenant, code: "basic", amount: 1_000)
            let pro = try await world.makePlan(tenant, code: "pro", amount: 5_000)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: basic, count: 1).first)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            try await world.run(SubscriptionUpdateJob(database: world.app, clock: world.clock),
                                .init(subscriptionID: id, planCode: "pro"), tenant: tenant)
            var state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.plan, basic, "a plan change waits for the next period")

            // Mid-period: not due; the same job again changes nothing.
            world.clock.advance(by: 15 * 86_400)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            var invoices = try await world.invoices(tenant, subscription: id)
            XCTAssertEqual(invoices.map(\.amount), [1_000])

            world.clock.set(ISO8601DateFormatter().date(from: "2027-02-01T00:00:00Z")!)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            invoices = try await world.invoices(tenant, subscription: id)
            XCTAssertEqual(invoices.map(\.amount), [1_000, 5_000], "February is invoiced once, on the new plan")
            XCTAssertEqual(invoices.map(\.status), ["paid", "paid"])
            state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.plan, pro)
            XCTAssertEqual(state.end, ISO8601DateFormatter().date(from: "2027-03-01T00:00:00Z"))
            let calls = try await world.paymentIntentCalls()
            XCTAssertEqual(calls, 2)
        }
    }

    /// A tenant suspended from late January to mid-May and then active again: its customer is
    /// charged for the period in progress when it came back, not for each period of the
    /// suspension, one charge a day. Another tenant, suspended for an hour in March while its
    /// customer's subscription was behind (billing stopped, here), has every period invoiced: they
    /// began while it was active.
    func testATenantActiveAgainChargesThePeriodInProgressNotThoseOfTheSuspension() async throws {
        try await BillingWorld.run { world in
            let date = { (text: String) in try unwrap(ISO8601DateFormatter().date(from: text)) }
            let suspended = try await world.makeTenant()
            let brief = try await world.makeTenant()
            var subscriptions: [UUID] = []
            for tenant in [suspended, brief] {
                let plan = try await world.makePlan(tenant, code: "basic", amount: 1_000)
                let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1).first)
                try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
                let paid = try await world.subscription(tenant, id)
                XCTAssertEqual(paid.end, try date("2027-02-01T00:00:00Z"))
                subscriptions.append(id)
            }
            // The status changes' times are set here from the billing clock, as the trigger would
            // set them from PostgreSQL's.
            for (tenant, from, until) in [(suspended, "2027-01-20T00:00:00Z", "2027-05-14T09:00:00Z"),
                                          (brief, "2027-03-05T09:00:00Z", "2027-03-05T10:00:00Z")] {
                let (left, back) = (try date(from), try date(until))
                try await world.app.withTenant(tenant) { connection in
                    try await connection.query("UPDATE tenants SET status = 'suspended', inactive_since = \(left) WHERE id = \(tenant)",
                                               logger: BillingWorld.logger)
                    try await connection.query("UPDATE tenants SET status = 'active', status_changed_at = \(back) WHERE id = \(tenant)",
                                               logger: BillingWorld.logger)
                }
            }

            for (tenant, id) in zip([suspended, brief], subscriptions) {
                world.clock.set(try date("2027-05-15T00:00:00Z"))
                for _ in 0..<5 {
                    try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
                    world.clock.advance(by: 86_400)
                }
            }
            let afterSuspension = try await world.invoices(suspended, subscription: subscriptions[0])
            XCTAssertEqual(afterSuspension.map(\.periodStart), [try date("2027-01-01T00:00:00Z"), try date("2027-05-01T00:00:00Z")],
                           "January's, then the period in progress on 14 May; none for the suspension")
            XCTAssertEqual(afterSuspension.map(\.status), ["paid", "paid"])
            let suspendedState = try await world.subscription(suspended, subscriptions[0])
            XCTAssertEqual(suspendedState.end, try date("2027-06-01T00:00:00Z"))

            let caughtUp = try await world.invoices(brief, subscription: subscriptions[1])
            var everyMonth: [Date] = []
            for month in 1...5 { everyMonth.append(try date("2027-0\(month)-01T00:00:00Z")) }
            XCTAssertEqual(caughtUp.map(\.periodStart), everyMonth, "every period began while the tenant was active: one a day")
            let calls = try await world.paymentIntentCalls()
            XCTAssertEqual(calls, 2 + 5)
        }
    }

    /// Changed to pro, invoiced on pro, declined, then changed back to basic: the pro invoice is
    /// already issued and keeps its amount, but the periods after it are basic again.
    func testChangingBackWhileTheNewPlansInvoiceIsChasedBillsTheOldPlanFromThePeriodAfter() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let basic = try await world.makePlan(tenant, code: "basic", amount: 1_000)
            let pro = try await world.makePlan(tenant, code: "pro", amount: 5_000)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: basic, count: 1, prefix: "back").first)
            let update = SubscriptionUpdateJob(database: world.app, clock: world.clock)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            try await world.run(update, .init(subscriptionID: id, planCode: "pro"), tenant: tenant)

            world.clock.set(ISO8601DateFormatter().date(from: "2027-02-01T00:00:00Z")!)
            try await world.scriptDecline(customer: "back-1", code: "insufficient_funds", times: 1)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            var invoices = try await world.invoices(tenant, subscription: id)
            XCTAssertEqual(invoices.map(\.amount), [1_000, 5_000])
            XCTAssertEqual(invoices.map(\.status), ["paid", "open"], "February's pro invoice is being chased")

            try await world.run(update, .init(subscriptionID: id, planCode: "basic"), tenant: tenant)
            world.clock.advance(by: 86_400)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            var state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.plan, pro, "February was invoiced and paid on pro")

            world.clock.set(ISO8601DateFormatter().date(from: "2027-03-01T00:00:00Z")!)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            invoices = try await world.invoices(tenant, subscription: id)
            XCTAssertEqual(invoices.map(\.amount), [1_000, 5_000, 1_000], "March is basic again")
            XCTAssertEqual(invoices.map(\.status), ["paid", "paid", "paid"])
            state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.plan, basic)
        }
    }

    /// A plan Stripe cannot charge exactly (12.345 KWD: three-decimal currencies go in steps of
    /// 0.010) is refused when subscribed to or changed to, saying why: its every invoice would be
    /// refused, left open for ever, the subscription served unpaid.
    func testAPlanStripeCannotChargeIsRefusedWhenSubscribedOrChangedTo() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            _ = try await world.makePlan(tenant, code: "kwd-odd", amount: 12_345, currency: "KWD")
            _ = try await world.makePlan(tenant, code: "kwd-even", amount: 12_340, currency: "KWD")
            let create = SubscriptionCreateJob(database: world.app, clock: world.clock)
            let refused = UUID()
            do {
                try await world.run(create, .init(subscriptionID: refused, customerID: "kwd-1", paymentMethod: "pm_card_visa",
                                                  planCode: "kwd-odd"), tenant: tenant)
                XCTFail("12.345 KWD cannot be charged")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.isPermanent)
                XCTAssertTrue(failure.description.contains("plan kwd-odd cannot be charged"), failure.description)
                XCTAssertTrue(failure.description.contains("0.010"), failure.description)
            }
            let none = try await world.scalar(tenant, "SELECT count(*) FROM subscriptions WHERE id = '\(refused.uuidString.lowercased())'")
            XCTAssertEqual(none, 0)

            // Starting tomorrow: nothing charged now (the database is shared; no charge left in its outbox).
            let kept = UUID()
            try await world.run(create, .init(subscriptionID: kept, customerID: "kwd-2", paymentMethod: "pm_card_visa",
                                              planCode: "kwd-even", startAt: BillingWorld.start.addingTimeInterval(86_400)),
                                tenant: tenant)
            let fannedOut = try await world.scalar(tenant, "SELECT count(*) FROM outbox WHERE tenant_id IS NOT NULL")
            XCTAssertEqual(fannedOut, 0)
            do {
                try await world.run(SubscriptionUpdateJob(database: world.app, clock: world.clock),
                                    .init(subscriptionID: kept, planCode: "kwd-odd"), tenant: tenant)
                XCTFail("a change to a plan that cannot be charged must be refused")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.description.contains("plan kwd-odd cannot be charged"), failure.description)
            }
            let next = try await world.scalar(tenant, "SELECT count(*) FROM subscriptions WHERE id = '\(kept.uuidString.lowercased())' "
                                                  + "AND next_plan_id IS NULL")
            XCTAssertEqual(next, 1, "the subscription stays on its plan")
        }
    }

    /// An import that backdates a subscription by months would have each daily cycle charge one more
    /// past month; a start inside the current period is taken (its period charged once).
    func testASubscriptionStartingAWholePeriodAgoIsRefusedAndOneInsideThePeriodIsBilledOnce() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            _ = try await world.makePlan(tenant, code: "monthly", amount: 2_000)
            let create = SubscriptionCreateJob(database: world.app, clock: world.clock)
            let stale = UUID()
            do {
                try await world.run(create, .init(subscriptionID: stale, customerID: "old-1", paymentMethod: "pm_card_visa",
                                                  planCode: "monthly", startAt: BillingWorld.start.addingTimeInterval(-62 * 86_400)),
                                    tenant: tenant)
                XCTFail("a start two months back must be refused")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.isPermanent)
                XCTAssertTrue(failure.description.contains("a whole billing period or more in the past"), failure.description)
            }
            let none = try await world.scalar(tenant, "SELECT count(*) FROM subscriptions WHERE id = '\(stale.uuidString.lowercased())'")
            XCTAssertEqual(none, 0)

            let recent = UUID()
            try await world.run(create, .init(subscriptionID: recent, customerID: "new-1", paymentMethod: "pm_card_visa",
                                              planCode: "monthly", startAt: BillingWorld.start.addingTimeInterval(-20 * 86_400)),
                                tenant: tenant)
            try await world.run(world.invoiceJob, .init(subscriptionID: recent), tenant: tenant)
            try await world.run(world.invoiceJob, .init(subscriptionID: recent), tenant: tenant)
            let invoices = try await world.invoices(tenant, subscription: recent)
            XCTAssertEqual(invoices.map(\.amount), [2_000], "the current period, once")
        }
    }

    func testSubscriptionCreateThroughTheOpsAPIChargesTheFirstPeriod() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            _ = try await world.makePlan(tenant, code: "starter", amount: 1_500)
            let ingress = try await RunningIngress.start(queue: world.queue)
            do {
                try await world.withWorkers {
                    let id = UUID()
                    let body = """
                        {"kind": "subscription.create", "tenant": "\(tenant.uuidString.lowercased())",
                         "args": {"subscription_id": "\(id.uuidString.lowercased())", "customer_id": "cus_api",
                                  "payment_method": "pm_card_visa", "plan_code": "starter"}}
                        """
                    let answer = try await ingress.call("POST", "/v1/jobs", json: body, http: world.http)
                    XCTAssertEqual(answer.status, 202, answer.text)
                    try await eventually(timeout: .seconds(30), "the first period is charged") {
                        try await world.invoices(tenant, subscription: id).map(\.status) == ["paid"]
                    }
                    let state = try await world.subscription(tenant, id)
                    XCTAssertEqual(state.start, BillingWorld.start)
                    XCTAssertEqual(state.end, ISO8601DateFormatter().date(from: "2027-02-01T00:00:00Z"))

                    let bad = try await ingress.call("POST", "/v1/jobs", json: """
                        {"kind": "subscription.update", "tenant": "\(tenant.uuidString.lowercased())", "args": {"plan_code": "x"}}
                        """, http: world.http)
                    XCTAssertEqual(bad.status, 422, "arguments without subscription_id do not decode: \(bad.text)")
                }
            } catch {
                await ingress.stop()
                throw error
            }
            await ingress.stop()
        }
    }
}
