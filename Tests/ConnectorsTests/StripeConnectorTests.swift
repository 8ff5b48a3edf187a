import CityOSTesting
import Connectors
import XCTest

/// Stripe's connector against the sandbox over real HTTP: idempotency, declines, transfers.
final class StripeConnectorTests: XCTestCase {
    var sandbox: SandboxHarness!

    override func setUp() async throws {
        sandbox = try await SandboxHarness.start()
    }

    override func tearDown() async throws {
        await sandbox?.stop()
    }

    func testRetriedPostWithTheSameIdempotencyKeyCreatesOnePaymentIntent() async throws {
        let connectors = try sandbox.connectors()
        defer { Task { await connectors.shutdown() } }
        // Two transient failures in front of Stripe: the transport retries with the same key.
        try await sandbox.script(["kind": "fail", "endpoint": "POST /stripe/v1/payment_intents", "status": 500, "times": 2])
        let first = try await connectors.stripe.chargeOffSession(
            amount: Money(minorUnits: 2500, currency: "usd"), customer: "cus_A", paymentMethod: "pm_card_visa",
            metadata: ["tenant_id": "acme"], idempotencyKey: "job-0001:charge")
        XCTAssertEqual(first.status, .succeeded)
        XCTAssertEqual(first.money, Money(minorUnits: 2500, currency: "usd"))
        // The job is delivered again (a crash after the call): the same key answers the same intent.
        let again = try await connectors.stripe.chargeOffSession(
            amount: Money(minorUnits: 2500, currency: "usd"), customer: "cus_A", paymentMethod: "pm_card_visa",
            metadata: ["tenant_id": "acme"], idempotencyKey: "job-0001:charge")
        XCTAssertEqual(again.id, first.id)
        let calls = try await sandbox.calls("POST /stripe/v1/payment_intents")
        XCTAssertEqual(calls.count, 4, "2 scripted failures, the success, the replay")
        let intents = try await sandbox.state("stripe", "payment_intents")
        XCTAssertEqual(intents, [first.id], "one PaymentIntent for one idempotency key")
    }

    func testReplayIsMarkedAndDifferentParametersAreAnIdempotencyError() async throws {
        let body = "amount=1000&currency=usd&customer=cus_B&payment_method=pm_card_visa&confirm=true&off_session=true"
        var headers = SandboxHarness.stripeHeaders
        headers["Idempotency-Key"] = "key-replay"
        let first = try await sandbox.raw("POST", "/stripe/v1/payment_intents", headers: headers, body: body)
        let second = try await sandbox.raw("POST", "/stripe/v1/payment_intents", headers: headers, body: body)
        XCTAssertEqual(first.status, 200)
        XCTAssertNil(first.headers["idempotent-replayed"])
        XCTAssertEqual(second.status, 200)
        XCTAssertEqual(second.headers["idempotent-replayed"], "true")
        XCTAssertEqual(second.json["id"] as? String, first.json["id"] as? String)

        let connectors = try sandbox.connectors()
        defer { Task { await connectors.shutdown() } }
        do {
            _ = try await connectors.stripe.chargeOffSession(
                amount: Money(minorUnits: 1001, currency: "usd"), customer: "cus_B", paymentMethod: "pm_card_visa",
                idempotencyKey: "key-replay")
            XCTFail("a reused key with other parameters must fail")
        } catch {
            guard case .idempotencyMismatch = error else { return XCTFail("expected idempotencyMismatch, got \(error)") }
            XCTAssertFalse(error.isRetryable)
        }
    }

    func testDeclinedCardIsATypedNonRetryableError() async throws {
        let connectors = try sandbox.connectors()
        defer { Task { await connectors.shutdown() } }
        try await sandbox.script(["kind": "decline", "customer": "cus_poor", "decline_code": "insufficient_funds"])
        do {
            _ = try await connectors.stripe.chargeOffSession(
                amount: Money(minorUnits: 4200, currency: "eur"), customer: "cus_poor", paymentMethod: "pm_card_visa",
                idempotencyKey: "job-0002:charge")
            XCTFail("the charge must be declined")
        } catch {
            guard case .declined(let service, let code, let declineCode, _, let intentID) = error else {
                return XCTFail("expected a decline, got \(error)")
            }
            XCTAssertEqual(service, .stripe)
            XCTAssertEqual(code, "card_declined")
            XCTAssertEqual(declineCode, "insufficient_funds")
            XCTAssertFalse(error.isRetryable)
            XCTAssertFalse(error.mayHaveTakenEffect)
            let id = try XCTUnwrap(intentID)
            let intent = try await connectors.stripe.paymentIntent(id: id)
            XCTAssertEqual(intent.status, .requiresPaymentMethod)
            XCTAssertEqual(intent.lastPaymentError?.declineCode, "insufficient_funds")
        }
        let calls = try await sandbox.calls("POST /stripe/v1/payment_intents")
        XCTAssertEqual(calls.count, 1, "a decline is not retried")
        // The decline was scripted once: the next charge of the customer succeeds.
        let next = try await connectors.stripe.chargeOffSession(
            amount: Money(minorUnits: 4200, currency: "eur"), customer: "cus_poor", paymentMethod: "pm_card_visa",
            idempotencyKey: "job-0002:charge:2")
        XCTAssertEqual(next.status, .succeeded)
    }

    /// The customer's bank asks them to authenticate a charge (3-D Secure): off-session nobody can,
    /// and Stripe declines it (402 `authentication_required`); on-session it waits for them
    /// (`requires_action`). A payment the customer makes later (a bank transfer) waits either way.
    func testAChargeTheBankWantsAuthenticatedIsDeclinedOffSessionAndWaitsOnSession() async throws {
        let connectors = try sandbox.connectors()
        defer { Task { await connectors.shutdown() } }
        let euros = Money(minorUnits: 4200, currency: "eur")
        try await sandbox.script(["kind": "requires_action", "customer": "cus_sca", "times": 2])
        do {
            _ = try await connectors.stripe.chargeOffSession(amount: euros, customer: "cus_sca", paymentMethod: "pm_card_visa",
                                                             idempotencyKey: "sca:off")
            XCTFail("off-session, a charge that needs authentication must be declined")
        } catch {
            guard case .declined(_, let code, let declineCode, _, let intentID) = error else {
                return XCTFail("expected a decline, got \(error)")
            }
            XCTAssertEqual(code, "authentication_required")
            XCTAssertEqual(declineCode, "authentication_required")
            XCTAssertFalse(error.isRetryable)
            let intent = try await connectors.stripe.paymentIntent(id: try XCTUnwrap(intentID))
            XCTAssertEqual(intent.status, .requiresPaymentMethod)
            XCTAssertNil(intent.nextActionType)
        }
        let created = try await connectors.stripe.createPaymentIntent(.init(amount: euros, customer: "cus_sca"),
                                                                      idempotencyKey: "sca:on:create")
        let waiting = try await connectors.stripe.confirmPaymentIntent(id: created.id, paymentMethod: "pm_card_visa",
                                                                       offSession: false, idempotencyKey: "sca:on:confirm")
        XCTAssertEqual(waiting.status, .requiresAction, "on-session the customer is there to authenticate")
        XCTAssertEqual(waiting.nextActionType, "use_stripe_sdk")

        try await sandbox.script(["kind": "requires_action", "customer": "cus_sca", "next_action": "display_bank_transfer_instructions"])
        let transfer = try await connectors.stripe.chargeOffSession(amount: euros, customer: "cus_sca", paymentMethod: "pm_card_visa",
                                                                    idempotencyKey: "sca:transfer")
        XCTAssertEqual(transfer.status, .requiresAction, "a payment the customer makes later is not declined off-session")
        XCTAssertEqual(transfer.nextActionType, "display_bank_transfer_instructions")
    }

    /// A 4xx without Stripe's error object did not come from Stripe (a proxy, a gateway, a wrong
    /// URL): it is an unexpected answer that may hide an earlier send's effect, never a refusal of
    /// the request by Stripe. The same status with Stripe's error object is Stripe's refusal.
    func testA4xxWithoutStripesErrorObjectIsNotARefusal() async throws {
        let connectors = try sandbox.connectors()
        defer { Task { await connectors.shutdown() } }
        for (status, from, refusal) in [(404, "proxy", false), (400, "proxy", false), (413, "proxy", false),
                                        (404, "service", true), (400, "service", true)] {
            try await sandbox.script(["kind": "fail", "endpoint": "POST /stripe/v1/transfers", "status": status, "from": from])
            do {
                _ = try await connectors.stripe.createTransfer(amount: Money(minorUnits: 100, currency: "usd"),
                                                               destination: "acct_any", idempotencyKey: "proxy-\(status)-\(from)")
                XCTFail("\(status) from the \(from) must fail")
            } catch {
                XCTAssertEqual(error.refusesThisRequest, refusal, "\(status) from the \(from): \(error)")
                XCTAssertEqual(error.mayHaveTakenEffect, !refusal, "\(status) from the \(from): \(error)")
                XCTAssertFalse(error.isRetryable, "\(status) from the \(from): \(error)")
            }
        }
    }

    func testCreateThenConfirmOffSession() async throws {
        let connectors = try sandbox.connectors()
        defer { Task { await connectors.shutdown() } }
        let created = try await connectors.stripe.createPaymentIntent(
            .init(amount: Money(minorUnits: 990, currency: "usd"), customer: "cus_C"), idempotencyKey: "pi-create-1")
        XCTAssertEqual(created.status, .requiresPaymentMethod)
        let confirmed = try await connectors.stripe.confirmPaymentIntent(
            id: created.id, paymentMethod: "pm_card_visa", idempotencyKey: "pi-confirm-1")
        XCTAssertEqual(confirmed.id, created.id)
        XCTAssertEqual(confirmed.status, .succeeded)
    }

    func testTransferToAConnectedAccountAndItsReadiness() async throws {
        let connectors = try sandbox.connectors()
        defer { Task { await connectors.shutdown() } }
        let account = try await sandbox.createAccount()
        let ready = try await connectors.stripe.account(id: account)
        XCTAssertTrue(ready.canReceiveTransfers)
        XCTAssertTrue(ready.payoutsEnabled)
        let transfer = try await connectors.stripe.createTransfer(
            amount: Money(minorUnits: 12_345, currency: "usd"), destination: account, transferGroup: "payout-2025-01-31",
            metadata: ["vendor_id": "v1"], idempotencyKey: "payout:v1:2025-01-31")
        XCTAssertEqual(transfer.destination, account)
        XCTAssertEqual(transfer.money, Money(minorUnits: 12_345, currency: "usd"))
        XCTAssertEqual(transfer.transferGroup, "payout-2025-01-31")
        XCTAssertEqual(transfer.metadata["vendor_id"], "v1")
        // 1,000 ISK: two-decimal in Stripe's API, so 100000 on the wire, and 1,000 ISK read back.
        let krona = try await connectors.stripe.createTransfer(
            amount: Money(minorUnits: 1_000, currency: "isk"), destination: account, idempotencyKey: "payout:v1:isk")
        XCTAssertEqual(krona.amount, 100_000, "Stripe's units")
        XCTAssertEqual(krona.money, Money(minorUnits: 1_000, currency: "isk"))
        do {
            _ = try await connectors.stripe.createTransfer(amount: Money(minorUnits: 1, currency: "usd"),
                                                           destination: "acct_missing", idempotencyKey: "payout:missing")
            XCTFail("an unknown destination must be refused")
        } catch {
            guard case .rejected(_, 400, "resource_missing", _) = error else { return XCTFail("got \(error)") }
            XCTAssertFalse(error.isRetryable)
        }
    }

    func testWrongKeyIsUnauthorizedAndNotRetried() async throws {
        await sandbox.stop()
        sandbox = try await SandboxHarness.start(credentials: ["stripe.secret_key": "sk_test_right"])
        let connectors = try sandbox.connectors(["CITYOS_STRIPE_SECRET_KEY": "sk_test_wrong"])
        defer { Task { await connectors.shutdown() } }
        do {
            _ = try await connectors.stripe.account(id: "acct_x")
            XCTFail("a wrong key must be refused")
        } catch {
            guard case .unauthorized(.stripe, 401, _) = error else { return XCTFail("got \(error)") }
            XCTAssertFalse(error.isRetryable)
            XCTAssertFalse("\(error)".contains("sk_test_wrong"), "a secret must never show in an error")
        }
        let calls = try await sandbox.calls("GET /stripe/v1/accounts/{id}")
        XCTAssertEqual(calls.count, 1)
    }

    func testMissingKeyIsNotConfiguredAndNothingIsSent() async throws {
        let connectors = try sandbox.connectors(["CITYOS_STRIPE_SECRET_KEY": ""])
        defer { Task { await connectors.shutdown() } }
        do {
            _ = try await connectors.stripe.account(id: "acct_x")
            XCTFail("no key, no call")
        } catch {
            XCTAssertEqual(error, .notConfigured(service: .stripe, setting: "stripe.secret_key (CITYOS_STRIPE_SECRET_KEY)"))
        }
        let calls = try await sandbox.calls("GET /stripe/v1/accounts/{id}")
        XCTAssertEqual(calls.count, 0)
    }
}
