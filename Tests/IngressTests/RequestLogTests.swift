import CityOSTesting
import Foundation
import Ingress
import Logging
import XCTest

/// One structured log line per request, with the job id and trace id, and never a secret or a
/// signature.
final class RequestLogTests: XCTestCase {
    func testOneLinePerRequestWithJobAndTraceIDAndNoSecrets() async throws {
        let lines = CapturedLog()
        var logger = Logger(label: "captured") { _ in CapturingHandler(lines: lines) }
        logger.logLevel = .info
        let harness = try await IngressHarness.start(logger: logger)
        let body = Signer.stripeEvent(id: "evt_logged")
        let signature = Signer.timestamped(body, secret: "whsec_stripe_test")
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let accepted = try await harness.request(.POST, "/webhooks/stripe", body: body,
                                                 headers: [("Stripe-Signature", signature), ("traceparent", trace)])
        let forged = try await harness.request(.POST, "/webhooks/stripe", body: body,
                                               headers: [("Stripe-Signature", signature.replacingOccurrences(of: "v1=", with: "v1=0"))])
        _ = try await harness.ops(.GET, "/v1/status")
        await harness.stop()

        XCTAssertEqual(accepted.status, 202)
        XCTAssertEqual(forged.status, 400)
        let requests = lines.all.filter { $0.message == "request" }
        XCTAssertEqual(requests.count, 3, "one line per request")
        let first = try XCTUnwrap(requests.first)
        XCTAssertEqual(first.metadata["route"], "/webhooks/{source}")
        XCTAssertEqual(first.metadata["status"], "202")
        XCTAssertEqual(first.metadata["job_id"], accepted.json?["job_id"] as? String)
        XCTAssertEqual(first.metadata["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertNotNil(requests[1].metadata["trace_id"])
        for line in lines.all {
            let text = line.message + " " + line.metadata.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            for secret in ["whsec_stripe_test", IngressHarness.opsToken, signature, String(signature.dropFirst(13))] {
                XCTAssertFalse(text.contains(secret), "a log line carries a secret or signature: \(text)")
            }
        }
    }
}
