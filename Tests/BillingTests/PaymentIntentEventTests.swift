import CityOSTesting
import Config
import Connectors
import Foundation
@testable import Jobs
import Queue
import Sandbox
import XCTest

/// Stripe's `payment_intent.*` events and Stripe's synchronous answers applied in any order: a state
/// never moves back. First by calling the handler, then end to end (the sandbox's Stripe posting
/// signed webhooks to a running ingress, a worker running the webhook job).
final class PaymentIntentEventTests: XCTestCase {
    /// Attempt 1 declined (recorded from Stripe's answer); attempt 2 charged at Stripe with success
    /// but not yet recorded (the worker died after Stripe answered). Returns the PaymentIntents' ids.
    private func declinedThenChargedUnrecorded(_ world: BillingWorld)
        async throws -> (tenant: UUID, subscription: UUID, invoice: UUID, first: String, second: String) {
        let tenant = try await world.makeTenant()
        let plan = try await world.makePlan(tenant, amount: 3_100)
        let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "order").first)
        try await world.scriptDecline(customer: "order-1", times: 1)
        try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
        world.clock.advance(by: 86_400)
        let attempt = try unwrap(try await world.book.prepare(tenant: tenant, subscription: id, now: world.clock.now()))
        XCTAssertEqual(attempt.attempt, 2)
        let second = try await BillingInvoiceJob.createIntent(attempt, tenant: tenant, stripe: world.connectors.stripe)
        XCTAssertEqual(second.status, .succeeded)
        let attempts = try await world.attempts(tenant, invoice: attempt.invoiceID)
        XCTAssertEqual(attempts.map(\.status), ["failed", "pending"])
        return (tenant, id, attempt.invoiceID, try XCTUnwrap(attempts.first?.intent), second.id)
    }

    private func deliver(_ world: BillingWorld, _ type: String, _ intent: String, tenant: UUID) async throws -> WebhookOutcome {
        let event = BillingWorld.event(type, try await world.paymentIntent(intent))
        let envelope = JobEnvelope(kind: StripeWebhookJob.kind, queue: "webhooks", tenant: tenant.uuidString.lowercased(), maxAttempts: 10)
        return try await world.events.handle(event, context: JobContext(envelope: envelope, logger: BillingWorld.logger))
    }

    func testASuccessArrivingBeforeTheEarlierAttemptsFailureLeavesTheInvoicePaid() async throws {
        try await BillingWorld.run { world in
            let (tenant, subscription, invoice, first, second) = try await declinedThenChargedUnrecorded(world)
            let succeeded = try await deliver(world, "payment_intent.succeeded", second, tenant: tenant)
            XCTAssertEqual(succeeded, .processed)
            let failed = try await deliver(world, "payment_intent.payment_failed", first, tenant: tenant)
            XCTAssertEqual(failed, .ignored, "attempt 1's failure is already known and changes nothing")
            let again = try await deliver(world, "payment_intent.succeeded", second, tenant: tenant)
            XCTAssertEqual(again, .ignored, "a duplicate event is harmless")
            // Even a (bogus) failure of the paying attempt does not reopen the invoice.
            let bogus = try await deliver(world, "payment_intent.payment_failed", second, tenant: tenant)
            XCTAssertEqual(bogus, .ignored)
            // The dead worker's job is redelivered: Stripe replays the same PaymentIntent, nothing changes.
            try await world.run(world.invoiceJob, .init(subscriptionID: subscription), tenant: tenant)
            let invoices = try await world.invoices(tenant, subscription: subscription)
            XCTAssertEqual(invoices.map(\.status), ["paid"])
            let attempts = try await world.attempts(tenant, invoice: invoice)
            XCTAssertEqual(attempts.map(\.status), ["failed", "succeeded"])
            XCTAssertEqual(attempts.last?.intent, second)
            let state = try await world.subscription(tenant, subscription)
            XCTAssertEqual(state.status, "active")
            let calls = try await world.paymentIntentsHeld()
            XCTAssertEqual(calls, 2, "two attempts, two PaymentIntents")
        }
    }

    func testASuccessArrivingAfterTheEarlierAttemptsFailureLeavesTheInvoicePaid() async throws {
        try await BillingWorld.run { world in
            let (tenant, subscription, invoice, first, second) = try await declinedThenChargedUnrecorded(world)
            let failed = try await deliver(world, "payment_intent.payment_failed", first, tenant: tenant)
            XCTAssertEqual(failed, .ignored)
            try await world.run(world.invoiceJob, .init(subscriptionID: subscription), tenant: tenant)   // the redelivery first
            let succeeded = try await deliver(world, "payment_intent.succeeded", second, tenant: tenant)
            XCTAssertEqual(succeeded, .ignored, "the redelivered job already booked Stripe's replayed answer")
            let lateFailure = try await deliver(world, "payment_intent.payment_failed", first, tenant: tenant)
            XCTAssertEqual(lateFailure, .ignored)
            let invoices = try await world.invoices(tenant, subscription: subscription)
            XCTAssertEqual(invoices.map(\.status), ["paid"])
            let attempts = try await world.attempts(tenant, invoice: invoice)
            XCTAssertEqual(attempts.map(\.status), ["failed", "succeeded"])
            let held = try await world.paymentIntentsHeld()
            XCTAssertEqual(held, 2)
        }
    }

    func testAFailureEventSettlesAPendingAttemptLikeStripesAnswerWould() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 700)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "crash").first)
            try await world.scriptDecline(customer: "crash-1", code: "generic_decline", times: 1)
            // The worker dies after Stripe declined, before recording it.
            let attempt = try unwrap(try await world.book.prepare(tenant: tenant, subscription: id, now: world.clock.now()))
            var declinedIntent: String?
            do {
                _ = try await BillingInvoiceJob.createIntent(attempt, tenant: tenant, stripe: world.connectors.stripe)
                XCTFail("the scripted decline")
            } catch {
                if case .declined(_, _, _, _, let intent)? = error as? ConnectorError { declinedIntent = intent }
            }
            // Past Stripe's 24-hour idempotency window (here: a limit of 0 s) a pending attempt is never
            // resent: it waits until Stripe's record can settle it, then is handed over for that.
            var late = world.book
            late.resendLimitSeconds = 0
            let waiting = try await late.prepare(tenant: tenant, subscription: id, now: world.clock.now())
            XCTAssertNil(waiting, "not resent, nor settled while a send may still run")
            late.settleAfterSeconds = 0
            let expired = try unwrap(try await late.prepare(tenant: tenant, subscription: id, now: world.clock.now()))
            XCTAssertNotNil(expired.pendingSeconds, "to be settled from Stripe's record, never sent")
            let outcome = try await deliver(world, "payment_intent.payment_failed", try XCTUnwrap(declinedIntent), tenant: tenant)
            XCTAssertEqual(outcome, .processed)
            var invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(invoice.nextAttemptAt, BillingWorld.start.addingTimeInterval(86_400), "dunning scheduled by the event")
            // The redelivered job finds the attempt settled and nothing due: no second charge.
            try await world.run(world.invoiceJob, .init(subscriptionID: id), tenant: tenant)
            invoice = try unwrap(try await world.invoices(tenant, subscription: id).first)
            XCTAssertEqual(invoice.attempts, 1)
            let held = try await world.paymentIntentsHeld()
            XCTAssertEqual(held, 1)
            let state = try await world.subscription(tenant, id)
            XCTAssertEqual(state.status, "past_due")
        }
    }

    func testAnEventForAnotherTenantOrWithoutAnInvoiceChangesNothing() async throws {
        try await BillingWorld.run { world in
            let (tenant, subscription, _, _, second) = try await declinedThenChargedUnrecorded(world)
            let other = try await world.makeTenant()
            var object = try await world.paymentIntent(second)
            if case .object(var members) = object, case .object(var metadata)? = members["metadata"] {
                metadata["tenant_id"] = .string(other.uuidString.lowercased())
                members["metadata"] = .object(metadata)
                object = .object(members)
            }
            let envelope = JobEnvelope(kind: StripeWebhookJob.kind, queue: "webhooks", tenant: other.uuidString.lowercased(), maxAttempts: 10)
            let context = JobContext(envelope: envelope, logger: BillingWorld.logger)
            let outcome = try await world.events.handle(BillingWorld.event("payment_intent.succeeded", object), context: context)
            XCTAssertEqual(outcome, .ignored, "row-level security: another tenant's event finds no such invoice")
            let plain = try await world.events.handle(
                BillingWorld.event("payment_intent.succeeded", .object(["id": .string("pi_x"), "metadata": .object([:])])),
                context: context)
            XCTAssertEqual(plain, .ignored, "a PaymentIntent that is no invoice's")
            let invoices = try await world.invoices(tenant, subscription: subscription)
            XCTAssertEqual(invoices.map(\.status), ["open"])
        }
    }

    func testTheSandboxsWebhooksThroughARunningIngressSettleTheAttempts() async throws {
        try await BillingWorld.run { world in
            let ingress = try await RunningIngress.start(queue: world.queue)
            var logger = BillingWorld.logger
            logger.logLevel = .critical
            let sender = SandboxServer(configuration: SandboxConfiguration(
                port: 0, webhooksURL: ingress.webhooksURL, webhookSecrets: ["stripe": RunningIngress.stripeSecret]), logger: logger)
            let senderTask = Task { try await sender.run() }
            let senderURL = try await sender.baseURL()
            let connectors = Connectors(config: try CityOSConfig.load(environment: [
                "CITYOS_SANDBOX_URL": senderURL, "CITYOS_STRIPE_SECRET_KEY": "sk_test_sandbox"]), redis: nil, namespace: "unused",
                logger: logger)
            do {
                let tenant = try await world.makeTenant()
                let plan = try await world.makePlan(tenant, amount: 2_000)
                let paid = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "hook-ok").first)
                let declined = try unwrap(try await world.makeSubscriptions(
                    tenant, plan: plan, count: 1, prefix: "hook-no", paymentMethod: "pm_card_chargeDeclined").first)
                try await world.withWorkers {
                    // Attempts whose worker died after Stripe answered: only the webhooks can settle them.
                    for id in [paid, declined] {
                        let attempt = try unwrap(try await world.book.prepare(tenant: tenant, subscription: id, now: world.clock.now()))
                        _ = try? await BillingInvoiceJob.createIntent(attempt, tenant: tenant, stripe: connectors.stripe)
                    }
                    try await eventually(timeout: .seconds(30), "the succeeded webhook pays the invoice") {
                        try await world.invoices(tenant, subscription: paid).map(\.status) == ["paid"]
                    }
                    try await eventually(timeout: .seconds(30), "the failed webhook schedules the retry") {
                        try await world.invoices(tenant, subscription: declined).first?.nextAttemptAt
                            == BillingWorld.start.addingTimeInterval(86_400)
                    }
                }
                let paidState = try await world.subscription(tenant, paid)
                XCTAssertEqual(paidState.status, "active")
                XCTAssertEqual(paidState.end, ISO8601DateFormatter().date(from: "2027-02-01T00:00:00Z"))
                let declinedState = try await world.subscription(tenant, declined)
                XCTAssertEqual(declinedState.status, "past_due")
            } catch {
                await connectors.shutdown()
                sender.stop()
                _ = await senderTask.result
                await ingress.stop()
                throw error
            }
            await connectors.shutdown()
            sender.stop()
            _ = await senderTask.result
            await ingress.stop()
        }
    }

    /// The card changed (subscription.update) between an attempt's first send and its resume: the
    /// resend repeats the payer it was first sent with, or Stripe would refuse the key's reuse and
    /// leave the invoice open with its attempt pending, out of dunning.
    func testAnAttemptResumedAfterTheCardChangedIsSentWithItsFirstPayer() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 1_100)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "recarded").first)
            let attempt = try unwrap(try await world.book.prepare(tenant: tenant, subscription: id, now: world.clock.now()))
            _ = try await BillingInvoiceJob.createIntent(attempt, tenant: tenant, stripe: world.connectors.stripe)
            try await world.app.withTenant(tenant) { connection in
                try await connection.query("UPDATE subscriptions SET payment_method = 'pm_card_mastercard' WHERE id = \(id)",
                                           logger: BillingWorld.logger)
            }
            try await world.withWorkers {
                try await world.runQueued(PaymentsRetryJob.self, .init(tenantID: tenant, stuckAfterSeconds: 0))
                try await eventually("the resumed attempt books Stripe's replayed answer") {
                    try await world.invoices(tenant, subscription: id).map(\.status) == ["paid"]
                }
            }
            let held = try await world.paymentIntentsHeld()
            XCTAssertEqual(held, 1, "resumed with the same key and payer: no second PaymentIntent")
        }
    }

    func testPaymentsRetryResumesAnAttemptLeftPendingOnceWithTheSameIdempotencyKey() async throws {
        try await BillingWorld.run { world in
            let tenant = try await world.makeTenant()
            let plan = try await world.makePlan(tenant, amount: 1_100)
            let id = try unwrap(try await world.makeSubscriptions(tenant, plan: plan, count: 1, prefix: "stuck").first)
            // Charged at Stripe, then the worker died and its job ended in the dead letters.
            let attempt = try unwrap(try await world.book.prepare(tenant: tenant, subscription: id, now: world.clock.now()))
            _ = try await BillingInvoiceJob.createIntent(attempt, tenant: tenant, stripe: world.connectors.stripe)
            try await world.withWorkers {
                try await world.runQueued(PaymentsRetryJob.self, .init(tenantID: tenant))
                let untouched = try await world.invoices(tenant, subscription: id).map(\.status)
                XCTAssertEqual(untouched, ["open"], "a pending attempt younger than an hour is left alone")
                try await world.runQueued(PaymentsRetryJob.self, .init(tenantID: tenant, stuckAfterSeconds: 0))
                try await eventually("the resumed attempt books Stripe's replayed answer") {
                    try await world.invoices(tenant, subscription: id).map(\.status) == ["paid"]
                }
            }
            let held = try await world.paymentIntentsHeld()
            XCTAssertEqual(held, 1, "resumed with the same idempotency key: no second PaymentIntent")
        }
    }
}
