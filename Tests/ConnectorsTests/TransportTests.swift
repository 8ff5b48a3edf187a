import CityOSTesting
import Connectors
import XCTest

/// The transport's rules, shown on real HTTP against the sandbox: 429 waits, timeouts, which
/// failures are retried and which are not.
final class TransportTests: XCTestCase {
    var sandbox: SandboxHarness!

    override func setUp() async throws {
        sandbox = try await SandboxHarness.start()
    }

    override func tearDown() async throws {
        await sandbox?.stop()
    }

    func testRateLimited429WithRetryAfterIsWaitedOut() async throws {
        let connectors = try sandbox.connectors()
        defer { Task { await connectors.shutdown() } }
        let account = try await sandbox.createAccount()
        try await sandbox.script(["kind": "rate_limit", "endpoint": "GET /stripe/v1/accounts/{id}", "retry_after": 1])
        let started = ContinuousClock.now
        let read = try await connectors.stripe.account(id: account)
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(read.id, account)
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(950), "Retry-After: 1 was not waited out")
        XCTAssertLessThan(elapsed, .seconds(5))
        let calls = try await sandbox.calls("GET /stripe/v1/accounts/{id}")
        XCTAssertEqual(calls.count, 2)
        XCTAssertGreaterThanOrEqual(calls.times[1] - calls.times[0], 950)
    }

    func testA503WithRetryAfterIsWaitedOutAndALongerOneFailsAtOnceSayingWhen() async throws {
        let connectors = try sandbox.connectors(["CITYOS_CONNECTORS_MAX_RETRY_WAIT_SECONDS": "5"])
        defer { Task { await connectors.shutdown() } }
        let account = try await sandbox.createAccount()
        // Backoff alone would retry after 50-100 ms; the service asked for 2 s.
        try await sandbox.script(["kind": "fail", "endpoint": "GET /stripe/v1/accounts/{id}", "status": 503, "retry_after": 2])
        let read = try await connectors.stripe.account(id: account)
        XCTAssertEqual(read.id, account)
        let calls = try await sandbox.calls("GET /stripe/v1/accounts/{id}")
        XCTAssertEqual(calls.count, 2)
        XCTAssertGreaterThanOrEqual(calls.times[1] - calls.times[0], 1950, "Retry-After: 2 on a 503 was not waited out")

        try await sandbox.script(["kind": "fail", "endpoint": "GET /medusa/admin/products", "status": 503, "retry_after": 600])
        let started = ContinuousClock.now
        do {
            _ = try await connectors.medusa.products()
            XCTFail("a 503 asking for 10 minutes must fail the call")
        } catch {
            guard case .unavailable(.medusa, 503, _, let after) = error, after == .seconds(600) else { return XCTFail("got \(error)") }
            XCTAssertEqual(error.retryAfter, .seconds(600))
            XCTAssertTrue(error.isRetryable)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(2), "a wait past the call's limit is not taken")
        let products = try await sandbox.calls("GET /medusa/admin/products")
        XCTAssertEqual(products.count, 1)
    }

    /// A Retry-After of a day or more is kept (it read as no hint: the call was retried at once, and
    /// its job got no hint either), as is one given as an HTTP date; a week at most.
    func testALongOrDatedRetryAfterIsKeptNotReadAsNoHint() async throws {
        let connectors = try sandbox.connectors(["CITYOS_CONNECTORS_MAX_RETRY_WAIT_SECONDS": "5"])
        defer { Task { await connectors.shutdown() } }
        try await sandbox.script(["kind": "rate_limit", "endpoint": "GET /medusa/admin/products", "retry_after": 90_000])
        do {
            _ = try await connectors.medusa.products()
            XCTFail("a 429 asking for 25 hours must fail the call")
        } catch {
            XCTAssertEqual(error.retryAfter, .seconds(90_000), "\(error)")
        }
        let products = try await sandbox.calls("GET /medusa/admin/products")
        XCTAssertEqual(products.count, 1, "not tried again within the call")

        func read(_ value: String) -> Duration? {
            ServiceResponse(status: 503, headers: ["retry-after": value], body: Data()).retryAfter
        }
        let inAnHour = Date().addingTimeInterval(3_600)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let dated = try XCTUnwrap(read(formatter.string(from: inAnHour)))
        XCTAssertTrue((.seconds(3_595)...(.seconds(3_601))).contains(dated), "\(dated)")
        XCTAssertEqual(read("Sun, 06 Nov 1994 08:49:37 GMT"), .zero, "a date passed: now")
        XCTAssertEqual(read("99999999999"), .seconds(604_800), "a week at most")
        for unreadable in ["-1", "inf", "nan", "soon", ""] { XCTAssertNil(read(unreadable), unreadable) }
    }

    func testRetryAfterLongerThanTheCallMayWaitFailsAsRateLimited() async throws {
        let connectors = try sandbox.connectors(["CITYOS_CONNECTORS_MAX_RETRY_WAIT_SECONDS": "2"])
        defer { Task { await connectors.shutdown() } }
        try await sandbox.script(["kind": "rate_limit", "endpoint": "GET /medusa/admin/products", "retry_after": 120])
        let started = ContinuousClock.now
        do {
            _ = try await connectors.medusa.products()
            XCTFail("a 2-minute Retry-After must not be waited out inside the call")
        } catch {
            XCTAssertEqual(error, .rateLimited(service: .medusa, retryAfter: .seconds(120)))
            XCTAssertTrue(error.isRetryable)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
    }

    func testHangingEndpointTimesOutWithinTheConfiguredTime() async throws {
        let connectors = try sandbox.connectors(["CITYOS_CONNECTORS_TIMEOUT_SECONDS": "0.5",
                                                 "CITYOS_CONNECTORS_MAX_RETRIES": "0"])
        defer { Task { await connectors.shutdown() } }
        try await sandbox.script(["kind": "hang", "endpoint": "GET /medusa/admin/products/{id}", "seconds": 15])
        let started = ContinuousClock.now
        do {
            _ = try await connectors.medusa.product(id: "prod_1")
            XCTFail("a hanging call must time out")
        } catch {
            XCTAssertEqual(error, .timedOut(service: .medusa, seconds: 0.5))
            XCTAssertTrue(error.isRetryable)
            XCTAssertTrue(error.mayHaveTakenEffect)
        }
        let elapsed = ContinuousClock.now - started
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(450))
        XCTAssertLessThan(elapsed, .milliseconds(1500), "the timeout is 0.5 s")
    }

    func testIdempotentReadIsRetriedAfterATimeout() async throws {
        let connectors = try sandbox.connectors(["CITYOS_CONNECTORS_TIMEOUT_SECONDS": "0.5"])
        defer { Task { await connectors.shutdown() } }
        let account = try await sandbox.createAccount()
        try await sandbox.script(["kind": "hang", "endpoint": "GET /stripe/v1/accounts/{id}", "seconds": 15])
        let started = ContinuousClock.now
        let read = try await connectors.stripe.account(id: account)
        XCTAssertEqual(read.id, account)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(3))
        let calls = try await sandbox.calls("GET /stripe/v1/accounts/{id}")
        XCTAssertEqual(calls.count, 2)
    }

    func testPostWithoutIdempotencyIsNotResentAfterATimeout() async throws {
        let connectors = try sandbox.connectors(["CITYOS_CONNECTORS_TIMEOUT_SECONDS": "0.5"])
        defer { Task { await connectors.shutdown() } }
        try await sandbox.script(["kind": "hang", "endpoint": "POST /payload/api/{collection}", "seconds": 15])
        do {
            let _: JSON = try await connectors.payload.create(["medusaProductId": "prod_1"] as [String: String])
            XCTFail("the create must time out")
        } catch {
            XCTAssertEqual(error, .timedOut(service: .payload, seconds: 0.5))
            XCTAssertTrue(error.mayHaveTakenEffect, "the caller must check before creating again")
        }
        let calls = try await sandbox.calls("POST /payload/api/{collection}")
        XCTAssertEqual(calls.count, 1, "a create without an idempotency key is never resent blindly")
    }

    func testServerErrorsAreRetriedABoundedNumberOfTimes() async throws {
        let connectors = try sandbox.connectors(["CITYOS_CONNECTORS_MAX_RETRIES": "2"])
        defer { Task { await connectors.shutdown() } }
        try await sandbox.script(["kind": "fail", "endpoint": "GET /medusa/admin/orders", "status": 503, "times": 5])
        do {
            _ = try await connectors.medusa.orders()
            XCTFail("five failures outlast two retries")
        } catch {
            guard case .unavailable(.medusa, 503, _, nil) = error else { return XCTFail("got \(error)") }
            XCTAssertTrue(error.isRetryable)
        }
        let calls = try await sandbox.calls("GET /medusa/admin/orders")
        XCTAssertEqual(calls.count, 3, "one call and two retries")
    }

    func testUnreachableServiceIsRetriedThenReported() async throws {
        let connectors = try sandbox.connectors(["CITYOS_MEDUSA_URL": "http://127.0.0.1:9/medusa",
                                                 "CITYOS_CONNECTORS_MAX_RETRIES": "1"])
        defer { Task { await connectors.shutdown() } }
        do {
            _ = try await connectors.medusa.products()
            XCTFail("nothing listens on port 9")
        } catch {
            guard case .unreachable(.medusa, _) = error else { return XCTFail("got \(error)") }
            XCTAssertTrue(error.isRetryable)
            XCTAssertFalse(error.mayHaveTakenEffect)
        }
    }

    /// Only Medusa's own not_found is "no such product"; a 404 from anything in front of it (an HTML
    /// page) is a failure that may pass, never "deleted" (which archives the product's document).
    func testAMedusa404IsNotFoundOnlyInMedusasOwnWords() {
        let own = ServiceResponse(status: 404, headers: [:],
                                  body: Data(#"{"type":"not_found","message":"Product with id: p was not found"}"#.utf8))
        let proxy = ServiceResponse(status: 404, headers: [:], body: Data("<html><body>Not Found</body></html>".utf8))
        guard case .notFound = MedusaConnector.errors.read(own, .medusa) else {
            return XCTFail("Medusa's not_found: \(MedusaConnector.errors.read(own, .medusa))")
        }
        guard case .unavailable(_, 404, _, _) = MedusaConnector.errors.read(proxy, .medusa) else {
            return XCTFail("a proxy's 404: \(MedusaConnector.errors.read(proxy, .medusa))")
        }
    }
}
