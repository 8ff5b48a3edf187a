import CityOSTesting
import Connectors
import Foundation
@testable import Jobs
import Queue
import XCTest

/// Failed invoices retried by `payments.retry` on the tenant's dunning schedule, walked through two
/// weeks on the manual clock, through the queue.
final class DunningTests: XCTestCase {
    private let day: TimeInterval = 86_400

    func testADeclinedCardIsRetriedOnTheDefaultScheduleThenTheSubscriptionIsCanceled() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 4_200)
            let id = try unwrap(try await world.makeSubscriptions(
                tenant, plan: plan, count: 1, paymentMethod: "pm_card_chargeDeclinedInsufficientFunds").first)
            let start = BillingWorld.start
            try await world.withWorkers {
                try await world.runQueued(BillingCycleJob.self, .init(tenantID: tenant))
                try await eventually("attempt 1 declined") {
                    let invoice = try await world.invoices(tenant, subscription: id).first
                    return invoice?.attempts == 1 && invoice?.nextAttemptAt != nil
                }
                var state = try await world.subscription(tenant, id)
                XCTAssertEqual(state.status, "past_due", "past due while dunning")
                // Stripe's default: 8 tries within 2 weeks — retries 1, 2, 3, 5, 7, 10, 14 days after the first failure.
                for (attempt, days) in [(2, 1), (3, 2), (4, 3), (5, 5), (6, 7), (7, 10), (8, 14)] {
                    let due = start.addingTimeInterval(Double(days) * day)
                    let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
                    XCTAssertEqual(invoice.nextAttemptAt, due, "attempt \(attempt) is due \(days) days after the first failure")
                    // A minute early: the retry run finds nothing due.
                    world.clock.set(due.addingTimeInterval(-60))
                    try await world.runQueued(PaymentsRetryJob.self, .init(tenantID: tenant))
                    let early = try await world.invoices(tenant, subscription: id).first?.attempts
                    XCTAssertEqual(early, attempt - 1, "nothing is retried before its time")
                    world.clock.set(due)
                    try await world.runQueued(PaymentsRetryJob.self, .init(tenantID: tenant))
                    try await eventually("attempt \(attempt) made and declined") {
                        let attempts = try await world.attempts(tenant, invoice: invoice.id)
                        return attempts.count == attempt && attempts.allSatisfy { $0.status == "failed" }
                    }
                }
                state = try await world.subscription(tenant, id)
                XCTAssertEqual(state.status, "canceled", "after the last attempt: the default final action")
                let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
                XCTAssertEqual(invoice.status, "uncollectible")
                XCTAssertNil(invoice.nextAttemptAt)
                let declines = try await world.attempts(tenant, invoice: invoice.id).map(\.decline)
                XCTAssertEqual(declines, Array(repeating: "insufficient_funds", count: 8))
                let calls = try await world.paymentIntentCalls()
                XCTAssertEqual(calls, 8, "one PaymentIntent per attempt")

                // Later runs do nothing more for it.
                world.clock.advance(by: 30 * day)
                try await world.runQueued(PaymentsRetryJob.self, .init(tenantID: tenant))
                try await world.runQueued(BillingCycleJob.self, .init(tenantID: tenant))
                let callsLater = try await world.paymentIntentCalls()
                XCTAssertEqual(callsLater, 8)
            }
        }
    }

    func testALostCardSkipsAheadToTheTenantsFinalActionAndAnotherTenantsScheduleIsItsOwn() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant(dunning: "{\"retry_hours\": [12, 36], \"final_action\": \"unpaid\"}")
            let plan = try await world.makePlan(tenant, amount: 990)
            let lost = try unwrap(try await world.makeSubscriptions(
                tenant, plan: plan, count: 1, prefix: "lost", paymentMethod: "pm_card_chargeDeclinedLostCard").first)
            let soft = try unwrap(try await world.makeSubscriptions(
                tenant, plan: plan, count: 1, prefix: "soft", paymentMethod: "pm_card_chargeDeclined").first)
            try await world.run(world.invoiceJob, .init(subscriptionID: lost), tenant: tenant)
            try await world.run(world.invoiceJob, .init(subscriptionID: soft), tenant: tenant)

            let lostState = try await world.subscription(tenant, lost)
            XCTAssertEqual(lostState.status, "unpaid", "a lost card cannot succeed: no retries, the tenant's final action")
            let lostInvoice = try await world.invoices(tenant, subscription: lost)
            XCTAssertEqual(lostInvoice.map(\.status), ["uncollectible"])
            XCTAssertEqual(lostInvoice.map(\.attempts), [1])

            let softInvoice = try unwrap(try await world.invoices(tenant, subscription: soft).first)
            XCTAssertEqual(softInvoice.nextAttemptAt, BillingWorld.start.addingTimeInterval(12 * 3_600), "the tenant's own schedule")
            world.clock.advance(by: 12 * 3_600)
            try await world.run(world.invoiceJob, .init(subscriptionID: soft), tenant: tenant)
            world.clock.advance(by: 24 * 3_600)
            try await world.run(world.invoiceJob, .init(subscriptionID: soft), tenant: tenant)
            let softState = try await world.subscription(tenant, soft)
            XCTAssertEqual(softState.status, "unpaid", "3 attempts, then unpaid")
            let softAttempts = try await world.attempts(tenant, invoice: softInvoice.id)
            XCTAssertEqual(softAttempts.map(\.status), ["failed", "failed", "failed"])
        }
    }

    /// A tenant's dunning setting comes from the commerce side unchecked. One that is wrong must
    /// neither crash the process (a retry 2e8 days out is a date PostgreSQL's encoding traps on)
    /// nor stall the chase: the standard retries apply, and the invoice names the setting to fix.
    func testAWrongDunningSettingFallsBackAndIsNamedOnTheInvoice() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant(dunning: "{\"retry_days\": [2e8]}")
            let plan = try await world.makePlan(tenant, amount: 990)
            let id = try unwrap(try await world.makeSubscriptions(
                tenant, plan: plan, count: 1, prefix: "typo", paymentMethod: "pm_card_chargeDeclined").first)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(invoice.status, "open")
            XCTAssertEqual(invoice.nextAttemptAt, BillingWorld.start.addingTimeInterval(86_400), "the standard first retry")
            let notes = try await world.app.withTenant(tenant) { connection in
                var found: [String] = []
                for try await note in try await connection.query(
                    "SELECT last_failure FROM invoices WHERE id = \(invoice.id)", logger: BillingWorld.logger).decode(String.self) {
                    found.append(note)
                }
                return found
            }
            XCTAssertTrue(notes.first?.contains("tenant setting: billing.dunning.retry_hours/retry_days") == true, "\(notes)")
            let state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.status, "past_due")
        }
    }

    /// Stripe turning a charge down for the platform's own mistake (here a scripted 400 with no
    /// card error; in life an amount under its minimum, a customer not in this account) is not the
    /// customer's failure: no dunning, no past_due, no final action. The attempt is `refused`, the
    /// job a dead letter saying so, and running the job again after the fix charges at once. An
    /// amount Stripe cannot take exactly (12.345 KWD) is refused before it is sent, the same way.
    /// Stripe charged but its answer did not read; the next send is refused before Stripe reads the
    /// key (401), or answered by something in front of Stripe (a proxy's 404 or 400, no Stripe
    /// error object). The attempt is left pending, not `refused`: refused, the replay made the next
    /// attempt under a new key, and the customer was charged twice for one invoice.
    func testACredentialsRefusalAfterAnUnreadChargeLeavesTheAttemptPendingNotChargedTwice() async throws {
        for (status, byProxy) in [(401, false), (404, true), (400, true)] {
            try await refusedBeforeStripeReadTheKey(status: status, byProxy: byProxy)
        }
    }

    private func refusedBeforeStripeReadTheKey(status: Int, byProxy: Bool) async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 1_500)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "unread\(status)").first)
            try await world.scriptIntentGarble()
            do { try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant) } catch {}
            try await world.scriptIntentFailure(status: status, byProxy: byProxy)
            do {
                try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
                XCTFail("a refused send is not a paid invoice")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.description.contains("left pending"), failure.description)
            }
            var invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            var attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["pending"], "not refused: an earlier send may have charged")

            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)   // the replay after the fix
            invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(invoice.status, "paid")
            attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["succeeded"], "one attempt, its key sent again")
            let held = try await world.paymentIntentsHeld()
            XCTAssertEqual(held, 1, "one charge")
        }
    }

    func testAChargeStripeRefusesForThePlatformsMistakeIsNotDunnedAndCanBeRunAgain() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 1_500)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "setup").first)
            try await world.scriptIntentFailure(status: 400)
            do {
                try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
                XCTFail("a refused charge must make the job a dead letter, for an operator")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.isPermanent)
                XCTAssertTrue(failure.description.contains("refused, nothing was charged"), failure.description)
            }
            var invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(invoice.status, "open")
            XCTAssertNil(invoice.nextAttemptAt, "no retry scheduled: it waits for the fix")
            var attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["refused"])
            var state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.status, "active", "the customer is not at fault: not past_due")
            var waiting = try await refusedOpen(world, invoice.id)
            XCTAssertEqual(waiting, 1, "money.reconcile reports the invoice nothing chases")

            // The dead letter replayed after the fix: the next attempt at once, paid.
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(invoice.status, "paid")
            waiting = try await refusedOpen(world, invoice.id)
            XCTAssertEqual(waiting, 0, "paid: no longer reported")
            attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["refused", "succeeded"])
            state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.status, "active")

            let kwd = try await world.makePlan(tenant, code: "kwd", amount: 12_345, currency: "KWD")
            let inKWD = try unwrap(try await world.makeSubscriptions(tenant, plan: kwd, count: 1, prefix: "kwd").first)
            do {
                try await world.run(world.invoiceJob, .init(subscriptionID: inKWD), tenant: tenant)
                XCTFail("12.345 KWD cannot be sent to Stripe")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.description.contains("refused"), failure.description)
            }
            let kwdInvoice = try unwrap(try await world.invoices(tenant, subscription: inKWD).first)
            let kwdAttempts = try await world.attempts(tenant, invoice: kwdInvoice.id)
            XCTAssertEqual(kwdAttempts.map(\.status), ["refused"], "not left pending, which nothing would ever settle")
            let calls = try await world.paymentIntentCalls()
            XCTAssertEqual(calls, 2, "the KWD charge was never sent")
            // Its amount can never be charged: reported until an operator cancels the subscription,
            // which closes the invoice.
            waiting = try await refusedOpen(world, kwdInvoice.id)
            XCTAssertEqual(waiting, 1)
            try await world.run(SubscriptionUpdateJob(database: world.app, clock: world.clock),
                                .init(subscriptionID: inKWD, cancel: true), tenant: tenant)
            waiting = try await refusedOpen(world, kwdInvoice.id)
            XCTAssertEqual(waiting, 0, "closed as uncollectible")
        }
    }

    /// An attempt that never reached Stripe is refused too, with the invoice's next attempt due at
    /// once: something chases it, so `invoice_refused` does not count it.
    func testAnAttemptThatNeverReachedStripeIsNotCountedAsARefusalNothingChases() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 1_500)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "never").first)
            try await world.scriptIntentFailure(status: 503)
            try await world.scriptIntentFailure(status: 503)
            try await world.scriptIntentFailure(status: 503)
            do { try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant) } catch {}
            let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            let pending = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(pending.map(\.status), ["pending"])
            let recorded = try await world.book.recordNeverMade(tenant: tenant, invoiceID: invoice.id, attempt: 1,
                                                                message: "never made", at: Date())
            XCTAssertEqual(recorded, .applied)
            let waiting = try await refusedOpen(world, invoice.id)
            XCTAssertEqual(waiting, 0, "its next attempt is due at once")
        }
    }

    /// Whether `money.reconcile`'s `invoice_refused` counts `invoice`.
    private func refusedOpen(_ world: BillingWorld, _ invoice: UUID) async throws -> Int {
        let sql = try unwrap(MoneyReconcileJob.invariants.first { $0.name == "invoice_refused" }?.sql)
        let query = "SELECT * FROM (\(sql)) AS q(tenant_id, id) WHERE q.id = '\(invoice.uuidString.lowercased())'"
        return try await world.app.withPlatformSweep { connection in
            try await MoneyReconcileJob.count(query, on: connection, logger: BillingWorld.logger).0
        }
    }

    /// A bank debit: Stripe answers `processing`, and its webhook never comes. Sending the same
    /// request again would get the stored first answer, `processing`, forever; the attempt keeps
    /// its PaymentIntent and `payments.retry` has it read until it settles.
    func testAProcessingChargeWhoseWebhookNeverComesIsReadUntilItSettles() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 4_200)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "debit").first)
            try await world.scriptProcessing(customer: "debit-1")
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(invoice.status, "open")
            let pending = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(pending.map(\.status), ["pending"])
            let intent = try unwrap(pending.first?.intent, "the PaymentIntent kept on the pending attempt")

            try await world.withWorkers {
                // Still processing: read, and still pending.
                try await world.runQueued(PaymentsRetryJob.self, .init(tenantID: tenant, stuckAfterSeconds: 0))
                try await eventually("the PaymentIntent to be read") { try await world.intentReads() >= 1 }
                try await world.settle(intent: intent, succeeded: true)
                try await world.runQueued(PaymentsRetryJob.self, .init(tenantID: tenant, stuckAfterSeconds: 0))
                try await eventually("the invoice to be paid") {
                    try await world.invoices(tenant, subscription: id).first?.status == "paid"
                }
            }
            let attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["succeeded"])
            XCTAssertEqual(attempts.first?.intent, intent)
            let calls = try await world.paymentIntentCalls()
            XCTAssertEqual(calls, 1, "the charge was never sent again")
        }
    }

    /// The job as shipped, but with Stripe's idempotency window as if it were over at once: an attempt
    /// left pending without an answer is settled from Stripe's record (`settled`), or waits (`waiting`).
    private func expiredJob(_ world: BillingWorld, waiting: Bool = false) -> BillingInvoiceJob {
        BillingInvoiceJob(database: world.app, stripe: world.connectors.stripe, clock: world.clock,
                          resendLimitSeconds: 0, settleAfterSeconds: waiting ? 3_600 : 0)
    }

    /// A send that never reached Stripe (the worker died before it, and the attempt's retries and
    /// resume ran out): past the idempotency window it is never resent; Stripe's record has no
    /// PaymentIntent for it, so it is refused as never made, not counted by dunning, and the
    /// invoice's next attempt is charged at once under its own key.
    func testAnAttemptThatNeverReachedStripeMakesWayForTheNextOneAtOnce() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 2_500)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "lost").first)
            _ = try unwrap(try await world.book.prepare(tenant: tenant, subscription: id, now: world.clock.now()))
            // Another PaymentIntent of the customer, of the same amount, for another invoice: not this attempt's.
            _ = try await world.connectors.stripe.chargeOffSession(
                amount: Money(minorUnits: 2_500, currency: "USD"), customer: "lost-1", paymentMethod: "pm_card_visa",
                metadata: ["invoice_id": UUID().uuidString.lowercased(), "attempt": "1"], idempotencyKey: UUID().uuidString)

            try await world.run(expiredJob(world, waiting: true), .init(subscriptionID: id), tenant: tenant)
            var invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            var attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["pending"], "between the limits it waits: a send may still run")

            try await world.run(expiredJob(world), .init(subscriptionID: id), tenant: tenant)
            invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(invoice.status, "paid")
            attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["refused", "succeeded"])
            XCTAssertEqual(attempts.first?.decline, "attempt_never_made")
            let state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.status, "active", "not dunned: the customer was never asked to pay")
            let held = try await world.paymentIntentsHeld()
            XCTAssertEqual(held, 2, "the unrelated one, and the next attempt's: the lost one was never made")
        }
    }

    /// No PaymentIntent for the attempt, but a charge of its amount to the customer since (taken by
    /// hand, say): it may be this invoice paid another way, so nothing is charged again.
    func testAnAttemptWithoutAPaymentIntentButAChargeOfItsAmountSinceIsLeftForAnOperator() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 4_400)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "byhand").first)
            _ = try unwrap(try await world.book.prepare(tenant: tenant, subscription: id, now: world.clock.now()))
            let byHand = try await world.connectors.stripe.chargeOffSession(
                amount: Money(minorUnits: 4_400, currency: "USD"), customer: "byhand-1", paymentMethod: "pm_card_visa",
                idempotencyKey: UUID().uuidString)
            do {
                try await world.run(expiredJob(world), .init(subscriptionID: id), tenant: tenant)
                XCTFail("left for an operator")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.isPermanent && failure.description.contains(byHand.id), "\(failure)")
            }
            let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            let attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["pending"])
            let held = try await world.paymentIntentsHeld()
            XCTAssertEqual(held, 1, "only the one taken by hand")
        }
    }

    /// A send whose charge Stripe made, though its answer was lost: booked from Stripe's record,
    /// never sent again.
    func testAnAttemptWhoseChargeStripeMadeIsBookedFromItsRecord() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 3_100)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "made").first)
            let attempt = try unwrap(try await world.book.prepare(tenant: tenant, subscription: id, now: world.clock.now()))
            let made = try await BillingInvoiceJob.createIntent(attempt, tenant: tenant, stripe: world.connectors.stripe)

            try await world.run(expiredJob(world), .init(subscriptionID: id), tenant: tenant)
            let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(invoice.status, "paid")
            let attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["succeeded"])
            XCTAssertEqual(attempts.first?.intent, made.id)
            let calls = try await world.paymentIntentCalls()
            XCTAssertEqual(calls, 1, "the charge was never sent again")
        }
    }

    /// Stripe made the charge, then answered 500, which it saves under the key and answers to every
    /// retry with it: the attempt stays pending (never booked from a 500), and past the idempotency
    /// window it is booked from Stripe's record, never charged again.
    func testAChargeStripeAnswered500ForUnderItsKeyIsBookedFromItsRecord() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 5_100)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "replayed").first)
            _ = try await world.sandboxJSON("/_sandbox/script", method: "POST",
                                            body: #"{"kind":"fail_behind","endpoint":"POST /stripe/v1/payment_intents","times":1}"#)
            for _ in 0..<2 {
                do {
                    try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
                    XCTFail("Stripe answers its saved 500 to every retry with the key")
                } catch let error as ConnectorError {
                    XCTAssertTrue(error.isRetryable, "\(error)")
                }
            }
            var invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            var attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["pending"])
            _ = try await world.sandboxJSON("/_sandbox/stripe/idempotency/expire", method: "POST", body: "{}")

            try await world.run(expiredJob(world), .init(subscriptionID: id), tenant: tenant)
            invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(invoice.status, "paid")
            attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["succeeded"])
            let held = try await world.paymentIntentsHeld()
            XCTAssertEqual(held, 1, "one charge")
        }
    }

    /// A declined charge whose answer was lost is failed from Stripe's record, for dunning, like
    /// Stripe's answer would have been.
    func testAnAttemptWhoseChargeWasDeclinedIsFailedFromItsRecordForDunning() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 900)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "nofunds").first)
            let attempt = try unwrap(try await world.book.prepare(tenant: tenant, subscription: id, now: world.clock.now()))
            try await world.scriptDecline(customer: "nofunds-1")
            do { _ = try await BillingInvoiceJob.createIntent(attempt, tenant: tenant, stripe: world.connectors.stripe) } catch {}

            try await world.run(expiredJob(world), .init(subscriptionID: id), tenant: tenant)
            let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(invoice.status, "open")
            let attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["failed"])
            XCTAssertEqual(attempts.first?.decline, "insufficient_funds")
            XCTAssertNotNil(invoice.nextAttemptAt, "dunning scheduled the next attempt")
            let calls = try await world.paymentIntentCalls()
            XCTAssertEqual(calls, 1, "never sent again")
        }
    }

    /// 3-D Secure off-session: the customer's bank asks them to authenticate the charge, and nobody
    /// is there to do it. Stripe declines it (402 `authentication_required`, the PaymentIntent back in
    /// `requires_payment_method`): the attempt fails for dunning to chase, nothing to cancel.
    func testAnOffSessionChargeTheBankWantsAuthenticatedIsDeclinedAndChasedByDunning() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 4_200)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "sca").first)
            try await world.scriptRequiresAction(customer: "sca-1")
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            let attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["failed"])
            XCTAssertEqual(attempts.first?.decline, "authentication_required")
            let intent = try unwrap(attempts.first?.intent, "the declined PaymentIntent, named in Stripe's error")
            let declined = try await world.paymentIntent(intent)
            XCTAssertEqual(declined["status"]?.stringValue, "requires_payment_method")
            let cancels = try await world.paymentIntentCancels()
            XCTAssertEqual(cancels, 0, "a declined PaymentIntent cannot charge: nothing to cancel")
            try await chasedThenPaid(world, tenant: tenant, subscription: id, invoice: invoice.id)
        }
    }

    /// After an attempt failed for want of the customer's authentication: the subscription is
    /// past_due and the invoice open with its next attempt; by then the customer has authenticated
    /// (or changed card), and the next attempt, a day later, charges.
    private func chasedThenPaid(_ world: BillingWorld, tenant: UUID, subscription id: UUID, invoice: UUID) async throws {
        let state = try await world.subscription(tenant, id)
        XCTAssertEqual(state.status, "past_due")
        let open = try unwrap(try await world.invoices(tenant, subscription: id).first)
        XCTAssertEqual(open.status, "open")
        XCTAssertNotNil(open.nextAttemptAt, "dunning schedules the next attempt")

        world.clock.advance(by: day)
        try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
        let paid = try unwrap(try await world.invoices(tenant, subscription: id).first)
        XCTAssertEqual(paid.status, "paid")
        let attempts = try await world.attempts(tenant, invoice: invoice)
        XCTAssertEqual(attempts.map(\.status), ["failed", "succeeded"])
    }

    /// Should Stripe ever answer an off-session charge with `requires_action` for an authentication
    /// (it declines them: see above), the PaymentIntent would wait for ever. It is canceled (so it can
    /// never charge once the next attempt has) and the attempt fails for dunning to chase; a cancel
    /// that did not get through is tried again from the PaymentIntent kept on the attempt.
    func testAChargeWaitingForTheCustomersAuthenticationIsCanceledAndChasedByDunning() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 4_200)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "sca").first)
            try await world.scriptRequiresAction(customer: "sca-1", evenOffSession: true)
            try await world.scriptFailure(endpoint: "POST /stripe/v1/payment_intents/{id}/cancel", status: 503, times: 3)
            do {
                try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
                XCTFail("a cancel Stripe did not take fails the attempt, to be retried")
            } catch let error as ConnectorError {
                XCTAssertTrue(error.isRetryable, "\(error)")
            }
            let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            var attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["pending"])
            let intent = try unwrap(attempts.first?.intent, "the PaymentIntent kept on the attempt before the cancel")

            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["failed"])
            XCTAssertEqual(attempts.first?.decline, "authentication_required")
            let cancels = try await world.paymentIntentCancels()
            XCTAssertEqual(cancels, 4, "three refused in front of Stripe, then the one that took")
            let canceled = try await world.paymentIntent(intent)
            XCTAssertEqual(canceled["status"]?.stringValue, "canceled", "it can never charge now")
            try await chasedThenPaid(world, tenant: tenant, subscription: id, invoice: invoice.id)
            let calls = try await world.paymentIntentCalls()
            XCTAssertEqual(calls, 2, "one charge per attempt")
        }
    }

    /// A charge waiting for a payment the customer makes later (a bank transfer) is not canceled at
    /// once, which would void it: it stays pending, read until it settles, for at most a week; then
    /// it is canceled and dunning chases the invoice.
    func testAPaymentTheCustomerMakesLaterWaitsThenIsChasedByDunning() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 4_200)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "later").first)
            try await world.scriptRequiresAction(customer: "later-1", nextAction: "display_bank_transfer_instructions")
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            var attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["pending"], "waiting for the transfer")
            let intent = try unwrap(attempts.first?.intent, "kept on the attempt, to be read until it settles")
            let waiting = try await world.paymentIntent(intent)
            XCTAssertEqual(waiting["status"]?.stringValue, "requires_action", "not canceled: that would void the transfer")

            // Past the limit (any age is past -1 s): canceled, and the attempt failed for dunning.
            let impatient = BillingInvoiceJob(database: world.app, stripe: world.connectors.stripe, clock: world.clock,
                                              payLaterLimitSeconds: -1)
            try await world.run(impatient, .init(subscriptionID: id), tenant: tenant)
            attempts = try await world.attempts(tenant, invoice: invoice.id)
            XCTAssertEqual(attempts.map(\.status), ["failed"])
            XCTAssertEqual(attempts.first?.decline, "payment_intent_action_required")
            let canceled = try await world.paymentIntent(intent)
            XCTAssertEqual(canceled["status"]?.stringValue, "canceled")
            let open = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertNotNil(open.nextAttemptAt, "dunning schedules the next attempt")
        }
    }

    /// Only a next action that asks for authentication is abandoned: a bank transfer's instructions
    /// or a voucher wait for a payment the customer makes later, which a cancel would void.
    func testOnlyAnAuthenticationIsAbandonedNotAPaymentTheCustomerMakesLater() throws {
        func intent(_ status: String, next: String?) throws -> StripePaymentIntent {
            let action = next.map { #","next_action":{"type":"\#($0)"}"# } ?? ""
            return try JSONDecoder().decode(StripePaymentIntent.self, from: Data(
                #"{"id":"pi_1","amount":100,"currency":"usd","status":"\#(status)"\#(action)}"#.utf8))
        }
        XCTAssertTrue(BillingInvoiceJob.waitsForAuthentication(try intent("requires_action", next: "use_stripe_sdk")))
        XCTAssertTrue(BillingInvoiceJob.waitsForAuthentication(try intent("requires_action", next: "redirect_to_url")))
        XCTAssertTrue(BillingInvoiceJob.waitsForAuthentication(try intent("requires_action", next: nil)))
        XCTAssertFalse(BillingInvoiceJob.waitsForAuthentication(try intent("requires_action", next: "display_bank_transfer_instructions")))
        XCTAssertFalse(BillingInvoiceJob.waitsForAuthentication(try intent("requires_action", next: "oxxo_display_details")))
        XCTAssertEqual(try intent("requires_action", next: "verify_with_microdeposits").nextActionType, "verify_with_microdeposits")
    }

    func testAFailedInvoicePaidOnARetryReactivatesTheSubscriptionForTheNextPeriod() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 1_200)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "flaky").first)
            try await world.scriptDecline(customer: "flaky-1", code: "insufficient_funds", times: 1)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            var state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.status, "past_due")
            world.clock.advance(by: day)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.status, "active")
            XCTAssertEqual(state.end, ISO8601DateFormatter().date(from: "2027-02-01T00:00:00Z"),
                           "the period is the invoice's, however late it was paid")
            let invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(invoice.status, "paid")
            let attempts = try await world.attempts(tenant, invoice: invoice.id).map(\.status)
            XCTAssertEqual(attempts, ["failed", "succeeded"])
        }
    }

    /// Under `final_action: past_due` the invoice stays open with no attempt left: nothing would
    /// ever collect it. A new payment method has it chased once more, by the next retry sweep.
    func testANewPaymentMethodChasesAnInvoiceDunningGaveUpOn() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant(dunning: "{\"retry_hours\": [12], \"final_action\": \"past_due\"}")
            let plan = try await world.makePlan(tenant, amount: 1_500)
            let id = try unwrap(try await world.makeSubscriptions(
                tenant, plan: plan, count: 1, prefix: "gaveup", paymentMethod: "pm_card_chargeDeclined").first)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            world.clock.advance(by: 12 * 3_600)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            let givenUp = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(givenUp.status, "open")
            XCTAssertNil(givenUp.nextAttemptAt, "no attempt left")
            let state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.status, "past_due")

            try await world.run(SubscriptionUpdateJob(database: world.app, clock: world.clock),
                                .init(subscriptionID: id, paymentMethod: "pm_card_visa"), tenant: tenant)
            let rescheduled = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(rescheduled.nextAttemptAt, world.clock.now(), "chased again at once")
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            let paid = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(paid.status, "paid")
            let attempts = try await world.attempts(tenant, invoice: paid.id).map(\.status)
            XCTAssertEqual(attempts, ["failed", "failed", "succeeded"])
        }
    }

    func testCancelingDuringDunningStopsTheRetries() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 800)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1,
                                                                  paymentMethod: "pm_card_chargeDeclined").first)
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            try await world.run(SubscriptionUpdateJob(database: world.app, clock: world.clock),
                                .init(subscriptionID: id, cancel: true), tenant: tenant)
            world.clock.advance(by: 2 * day)
            try await world.run(PaymentsRetryJob(database: world.app, clock: world.clock), .init(tenantID: tenant), tenant: nil)
            let fannedOut = try await world.scalar(tenant, "SELECT count(*) FROM outbox WHERE tenant_id IS NOT NULL")
            XCTAssertEqual(fannedOut, 0, "nothing to retry")
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            let invoices = try await world.invoices(tenant, subscription: id)
            XCTAssertEqual(invoices.map(\.status), ["uncollectible"])
            XCTAssertEqual(invoices.map(\.attempts), [1])
            let state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.status, "canceled")
        }
    }
}
