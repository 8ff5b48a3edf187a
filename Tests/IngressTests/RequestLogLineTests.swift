import CityOSTesting
import Foundation
import XCTest

/// `cityos serve` writes request lines without going through `Logger` metadata (its JSON
/// handler renders them directly, `JSONLogHandler.writeRequestLine`). They must read exactly as
/// the handler's other lines do: one JSON object, keys sorted, the request's fields, no secrets —
/// whichever path (event-loop fast path or router) answered.
final class RequestLogLineTests: XCTestCase {
    func testServeWritesEachRequestAsOneSortedJSONLineWithItsJobAndTraceIDs() async throws {
        let harness = try QueueHarness(label: "requestlog")
        let port = try TestEnvironment.freePort()
        let server = try ChildProcess(arguments: ["serve"], environment: try harness.childEnvironment([
            "CITYOS_HTTP_PORT": String(port), "CITYOS_WEBHOOK_SECRET_STRIPE": "whsec_stripe_test",
            "CITYOS_OPS_TOKEN": "ops-token-log",
        ]))
        defer { server.signal(SIGKILL) }
        try await eventually("the ingress never said it listens; log: \(server.logPath)") {
            server.log.contains(#""msg":"ingress listening""#)
        }
        let body = Signer.stripeEvent(id: "evt_log_\(UUID().uuidString)")
        let signature = Signer.timestamped(body, secret: "whsec_stripe_test")
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let signed = RawHTTP.request("POST", "/webhooks/stripe", body: body,
                                     headers: [("Stripe-Signature", signature), ("traceparent", trace)])
        let forged = RawHTTP.request("POST", "/webhooks/stripe", body: body, headers: [("Stripe-Signature", "t=1,v1=00")])
        let answers = try RawHTTP.exchange(port: port, signed + forged + RawHTTP.request("GET", "/healthz"),
                                           responses: 3)
        XCTAssertEqual(answers.map(\.status), [202, 400, 200])
        server.signal(SIGTERM)
        _ = try await server.waitForExit()

        let lines = server.log.split(separator: "\n").filter { $0.hasPrefix("{") }
        let requests = lines.filter { $0.contains(#""msg":"request""#) }
        XCTAssertEqual(requests.count, 3, server.log)
        for line in lines {
            let keys = Self.keys(of: String(line))
            XCTAssertEqual(keys, keys.sorted(), "keys in order: \(line)")
            XCTAssertFalse(line.contains("whsec_stripe_test") || line.contains(signature) || line.contains("ops-token-log"),
                           "a secret or signature in: \(line)")
        }
        let fields = try requests.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]) }
        XCTAssertEqual(Set(fields[0].keys), ["duration_ms", "job_id", "level", "logger", "method", "msg", "path", "route",
                                             "status", "trace_id", "ts"])
        XCTAssertEqual(fields[0]["job_id"], answers[0].json?["job_id"] as? String)
        XCTAssertEqual(fields[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertEqual(fields[0]["status"], "202")
        XCTAssertEqual(fields[0]["route"], "/webhooks/{source}")
        XCTAssertEqual(fields[0]["path"], "/webhooks/stripe")
        XCTAssertEqual(fields[0]["logger"], "cityos.ingress")
        XCTAssertEqual(fields[1]["status"], "400")
        XCTAssertNil(fields[1]["job_id"])
        XCTAssertEqual(fields[2]["route"], "/healthz")
        for line in fields {
            XCTAssertNotNil(line["duration_ms"].flatMap { $0.range(of: #"^\d+\.\d{3}$"#, options: .regularExpression) }, "\(line)")
            XCTAssertNotNil(line["ts"].flatMap { $0.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) })
            XCTAssertEqual(line["trace_id"]?.count, 32)
        }
        try await harness.clean()
    }

    /// The top-level keys of a flat JSON object line, in the order written.
    private static func keys(of line: String) -> [String] {
        var keys: [String] = []
        var rest = Substring(line)
        while let open = rest.range(of: #"{""#) ?? rest.range(of: #",""#) {
            rest = rest[open.upperBound...]
            guard let close = rest.range(of: #"":"#) else { break }
            keys.append(String(rest[..<close.lowerBound]))
            rest = rest[close.upperBound...]
            // Skip the value: a string (escapes aside) or a bare token.
            if rest.first == "\"" {
                var index = rest.index(after: rest.startIndex)
                while index < rest.endIndex, rest[index] != "\"" {
                    index = rest[index] == "\\" ? rest.index(index, offsetBy: 2) : rest.index(after: index)
                }
                rest = rest[min(rest.endIndex, rest.index(after: index))...]
            }
        }
        return keys
    }
}
