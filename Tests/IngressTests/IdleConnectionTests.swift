import CityOSTesting
import Foundation
import Ingress
import XCTest

/// `http.idle_timeout_seconds` (`IdleConnectionTimer`): a connection on which nothing moves is
/// closed; one busy with deliveries, those the fast path answers included, is not.
final class IdleConnectionTests: XCTestCase {
    var harness: IngressHarness!

    override func tearDown() async throws {
        await harness?.stop()
    }

    func testAConnectionThatSendsNothingIsClosedOnceTheIdleTimeoutHasPassed() async throws {
        for fastPath in [true, false] {
            harness = try await IngressHarness.start(webhookFastPath: fastPath, idleTimeoutSeconds: 0.3)
            let connection = try RawHTTP.Connection(port: harness.port)
            let closedAfter = try connection.awaitClose(seconds: 10)
            XCTAssertGreaterThanOrEqual(closedAfter, 0.25, "closed before the timeout (fast path \(fastPath))")
            await harness.stop()
            harness = nil
        }
    }

    /// A request the router takes longer to answer than the idle timeout (here a readiness check
    /// of 1.2 s against 0.5 s) keeps its connection: nothing moves on it, but an answer is owed.
    func testARequestSlowerThanTheIdleTimeoutIsAnsweredNotCutOff() async throws {
        for fastPath in [true, false] {
            harness = try await IngressHarness.start(readinessChecks: [
                ReadinessCheck(name: "slow") { try await Task.sleep(for: .milliseconds(1_200)) },
            ], webhookFastPath: fastPath, idleTimeoutSeconds: 0.5)
            let connection = try RawHTTP.Connection(port: harness.port)
            try connection.write(RawHTTP.request("GET", "/readyz"))
            let answer = try connection.read(responses: 1)
            XCTAssertEqual(answer.first?.status, 200, "fast path \(fastPath): \(answer.first?.body ?? "")")
            let closedAfter = try connection.awaitClose(seconds: 10)
            XCTAssertLessThan(closedAfter, 5, "and idle once answered, it is closed (fast path \(fastPath))")
            await harness.stop()
            harness = nil
        }
    }

    /// A client that sends a request's head and then nothing (its body never comes) is idle, not
    /// a request in progress: its connection is closed at the timeout.
    func testAHeadWhoseBodyNeverComesIsClosedAtTheIdleTimeout() async throws {
        for fastPath in [true, false] {
            harness = try await IngressHarness.start(webhookFastPath: fastPath, idleTimeoutSeconds: 0.5)
            let connection = try RawHTTP.Connection(port: harness.port)
            try connection.write(Array(("POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(IngressHarness.opsToken)\r\n"
                + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{").utf8))
            let closedAfter = try connection.awaitClose(seconds: 10)
            XCTAssertGreaterThanOrEqual(closedAfter, 0.4, "closed before the timeout (fast path \(fastPath))")
            await harness.stop()
            harness = nil
        }
    }

    /// An answer written before its request's body came (a 401 for a missing token) and the body
    /// read after it leave nothing owed: the connection is idle, and closed at the timeout.
    func testARequestAnsweredBeforeItsBodyCameLeavesTheConnectionIdle() async throws {
        harness = try await IngressHarness.start(idleTimeoutSeconds: 0.5)
        let connection = try RawHTTP.Connection(port: harness.port)
        try connection.write(Array("POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n".utf8))
        let answer = try connection.read(responses: 1)
        XCTAssertEqual(answer.first?.status, 401, answer.first?.body ?? "")
        try connection.write(Array("{}".utf8))
        let closedAfter = try connection.awaitClose(seconds: 10)
        XCTAssertLessThan(closedAfter, 5, "idle once the late body was read")
    }

    func testDeliveriesKeepTheirConnectionOpenAndItClosesOnceTheyStop() async throws {
        harness = try await IngressHarness.start(idleTimeoutSeconds: 0.5)
        let connection = try RawHTTP.Connection(port: harness.port)
        // Twelve deliveries 150 ms apart: 1.8 s on one connection, over three timeouts. Each gap
        // is shorter than the timeout; a timer that did not see the fast path's bytes (which
        // never reach Hummingbird's decoder) would close the connection in between.
        for n in 1...12 {
            let body = Signer.stripeEvent(id: "evt_idle_\(n)")
            try connection.write(RawHTTP.request("POST", "/webhooks/stripe", body: body, headers: [
                ("Content-Type", "application/json"),
                ("Stripe-Signature", Signer.timestamped(body, secret: "whsec_stripe_test")),
            ]))
            let answer = try connection.read(responses: 1)
            XCTAssertEqual(answer.first?.status, 202, "delivery \(n): \(answer.first?.body ?? "")")
            try await Task.sleep(for: .milliseconds(150))
        }
        let closedAfter = try connection.awaitClose(seconds: 10)
        XCTAssertGreaterThanOrEqual(closedAfter, 0.2, "closed too early after the last answer")
        let metrics = try await harness.request(.GET, "/metrics").text
        XCTAssertTrue(metrics.contains(#"cityos_webhooks_answered_total{source="stripe",path="event_loop"} 12"#),
                      "the deliveries went the fast path's way")
    }
}
