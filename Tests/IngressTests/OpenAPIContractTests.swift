import CityOSTesting
import Foundation
import Ingress
import Jobs
import NIOHTTP1
import Yams
import XCTest

/// The OpenAPI document against the running server, beyond its list of routes: every status the
/// server answers to a request of each kind, refusals included, is one the document lists for
/// that operation; the job kinds it lists are the registry's; the input constraints it states
/// are enforced; and a documented path asked with a method it does not list is answered 405
/// with the document's methods (and HEAD with GET) in `Allow`.
final class OpenAPIContractTests: XCTestCase {
    var harness: IngressHarness!

    override func tearDown() async throws {
        await harness?.stop()
    }

    /// The document's operations: path template → method (upper case) → documented statuses.
    private func documentedOperations() async throws -> [String: [String: Set<Int>]] {
        let answer = try await harness.request(.GET, "/openapi.yaml")
        XCTAssertEqual(answer.status, 200)
        let document = try XCTUnwrap(try Yams.load(yaml: answer.text) as? [String: Any])
        let paths = try XCTUnwrap(document["paths"] as? [String: Any])
        var operations: [String: [String: Set<Int>]] = [:]
        for (path, item) in paths {
            for (method, operation) in item as? [String: Any] ?? [:] {
                guard let responses = (operation as? [String: Any])?["responses"] as? [String: Any] else { continue }
                operations[path, default: [:]][method.uppercased()] = Set(responses.keys.compactMap { Int($0) })
            }
        }
        return operations
    }

    /// `components.schemas.ErrorDetail.properties.code.enum`.
    private func documentedErrorCodes() async throws -> Set<String> {
        let answer = try await harness.request(.GET, "/openapi.yaml")
        let document = try XCTUnwrap(try Yams.load(yaml: answer.text) as? [String: Any])
        let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any]
        let detail = (schemas?["ErrorDetail"] as? [String: Any])?["properties"] as? [String: Any]
        let codes = (detail?["code"] as? [String: Any])?["enum"] as? [String]
        return Set(try XCTUnwrap(codes, "ErrorDetail.code has no enum"))
    }

    func testEveryStatusTheServerAnswersIsDocumentedForItsOperation() async throws {
        // No schedules report and no inbox report are handed in: those two answer 503 not_configured.
        harness = try await IngressHarness.start(benchRoute: true)
        let operations = try await documentedOperations()
        let codes = try await documentedErrorCodes()
        let job = #"{"kind":"diag.noop","args":{}}"#
        let overMiB = #"{"reason":""# + String(repeating: "x", count: 1 << 20) + #""}"#
        // (method, the document's path, the path asked, body, with the ops token, the status expected)
        let probes: [(HTTPMethod, String, String, String?, Bool, Int)] = [
            (.POST, "/webhooks/{source}", "/webhooks/stripe", "{}", false, 400),            // no signature
            (.POST, "/webhooks/{source}", "/webhooks/nope", "{}", false, 404),              // unknown source
            (.POST, "/webhooks/{source}", "/webhooks/stripe", String(repeating: " ", count: (1 << 20) + 1), false, 413),
            (.POST, "/v1/jobs", "/v1/jobs", job, true, 202),
            (.POST, "/v1/jobs", "/v1/jobs", job, false, 401),
            (.POST, "/v1/jobs", "/v1/jobs", #"{"kind":"diag.noop","tenant":""}"#, true, 400),
            // A queue named only by dots could never be reached over HTTP (`/v1/queues/../pause` is `/v1/pause`).
            (.POST, "/v1/jobs", "/v1/jobs", #"{"kind":"diag.noop","queue":".."}"#, true, 400),
            (.POST, "/v1/jobs", "/v1/jobs", #"{"kind":"diag.noop","delay_seconds":31536001}"#, true, 400),
            (.POST, "/v1/jobs", "/v1/jobs", #"{"kind":"no.such.kind"}"#, true, 422),
            (.POST, "/v1/jobs", "/v1/jobs", overMiB, true, 413),
            (.GET, "/v1/status", "/v1/status", nil, true, 200),
            (.GET, "/v1/status", "/v1/status", nil, false, 401),
            (.GET, "/v1/schedules", "/v1/schedules", nil, true, 503),
            (.GET, "/v1/webhooks/inbox", "/v1/webhooks/inbox", nil, true, 503),
            (.GET, "/v1/queues/{queue}/jobs/{id}", "/v1/queues/default/jobs/x1", nil, true, 404),
            (.GET, "/v1/queues/{queue}/jobs/{id}", "/v1/queues/%C2%84/jobs/x1", nil, true, 400),
            (.GET, "/v1/queues/{queue}/dead", "/v1/queues/default/dead?limit=10", nil, true, 200),
            (.GET, "/v1/queues/{queue}/dead", "/v1/queues/%C2%84/dead", nil, true, 400),
            (.GET, "/v1/queues/{queue}/dead", "/v1/queues/default/dead?offset=74952184694306668544", nil, true, 400),
            (.POST, "/v1/queues/{queue}/dead/{id}/retry", "/v1/queues/default/dead/x1/retry", nil, true, 404),
            (.POST, "/v1/queues/{queue}/dead/{id}/retry", "/v1/queues/%C2%84/dead/x1/retry", nil, true, 400),
            (.DELETE, "/v1/queues/{queue}/dead/{id}", "/v1/queues/default/dead/x1", nil, true, 404),
            (.DELETE, "/v1/queues/{queue}/dead/{id}", "/v1/queues/%C2%84/dead/x1", nil, true, 400),
            (.POST, "/v1/queues/{queue}/jobs/{id}/cancel", "/v1/queues/default/jobs/x1/cancel", nil, true, 404),
            (.POST, "/v1/queues/{queue}/jobs/{id}/cancel", "/v1/queues/%C2%84/jobs/x1/cancel", nil, true, 400),
            (.GET, "/v1/queues/{queue}/scheduled", "/v1/queues/default/scheduled?limit=10", nil, true, 200),
            (.GET, "/v1/queues/{queue}/scheduled", "/v1/queues/default/scheduled?limit=0", nil, true, 400),
            (.GET, "/v1/queues/{queue}/running", "/v1/queues/default/running?limit=10", nil, true, 200),
            (.GET, "/v1/running", "/v1/running?limit=10", nil, true, 200),
            (.GET, "/v1/running", "/v1/running?limit=501", nil, true, 400),
            (.GET, "/v1/queues/{queue}/running", "/v1/queues/default/running?offset=-1", nil, true, 400),
            (.POST, "/v1/queues/{queue}/jobs/{id}/run-now", "/v1/queues/default/jobs/x1/run-now", nil, true, 404),
            (.POST, "/v1/queues/{queue}/jobs/{id}/run-now", "/v1/queues/%C2%84/jobs/x1/run-now", nil, true, 400),
            (.POST, "/v1/queues/{queue}/pause", "/v1/queues/default/pause", #"{"reason":"contract"}"#, true, 200),
            (.POST, "/v1/queues/{queue}/pause", "/v1/queues/default/pause", #"{"reason":7}"#, true, 400),
            (.POST, "/v1/queues/{queue}/pause", "/v1/queues/default/pause", overMiB, true, 413),
            (.POST, "/v1/queues/{queue}/jobs/{id}/cancel", "/v1/queues/default/jobs/x1/cancel", overMiB, true, 413),
            (.POST, "/v1/queues/{queue}/pause", "/v1/queues/%C2%84/pause", nil, true, 400),
            (.POST, "/v1/queues/{queue}/resume", "/v1/queues/default/resume", nil, true, 200),
            (.POST, "/v1/queues/{queue}/resume", "/v1/queues/%C2%84/resume", nil, true, 400),
            (.POST, "/v1/queues/{queue}/dead/retry-all", "/v1/queues/default/dead/retry-all", nil, true, 200),
            (.POST, "/v1/queues/{queue}/dead/retry-all", "/v1/queues/%C2%84/dead/retry-all", nil, true, 400),
            (.POST, "/bench/noop", "/bench/noop", nil, false, 202),
            (.GET, "/healthz", "/healthz", nil, false, 200),
            (.GET, "/readyz", "/readyz", nil, false, 200),
            (.GET, "/metrics", "/metrics", nil, false, 200),
            (.GET, "/openapi.yaml", "/openapi.yaml", nil, false, 200),
            (.GET, "/dashboard", "/dashboard", nil, false, 200),
            (.GET, "/", "/", nil, false, 303),
        ]
        for (method, template, path, body, authorized, expected) in probes {
            var headers = [("Content-Type", "application/json")]
            if authorized { headers.append(("Authorization", "Bearer \(IngressHarness.opsToken)")) }
            let answer = try await harness.request(method, path, body: body.map { Array($0.utf8) }, headers: headers)
            let what = "\(method) \(path.prefix(80))"
            XCTAssertEqual(answer.status, expected, "\(what): \(answer.text.prefix(300))")
            let documented = try XCTUnwrap(operations[template]?[method.rawValue], "\(method) \(template) is not in the document")
            XCTAssertTrue(documented.contains(answer.status),
                          "\(what) answered \(answer.status), which the document does not list for \(method) \(template) (it lists \(documented.sorted()))")
            if answer.status >= 400 {
                XCTAssertNotNil(answer.errorCode, "\(what): an error answer without a JSON error code: \(answer.text.prefix(300))")
                XCTAssertTrue(codes.contains(answer.errorCode ?? ""),
                              "\(what): error code \(answer.errorCode ?? "-") is not in the document's ErrorDetail.code")
            }
        }
        let exercised = Set(probes.map { "\($0.0.rawValue) \($0.1)" })
        let all = Set(operations.flatMap { path, methods in methods.keys.map { "\($0) \(path)" } })
        XCTAssertEqual(all.subtracting(exercised), [], "operations of the document no probe asks")
    }

    func testTheDocumentListsExactlyTheRegisteredJobKinds() async throws {
        harness = try await IngressHarness.start()
        let answer = try await harness.request(.GET, "/openapi.yaml")
        var node: Any? = try Yams.load(yaml: answer.text)
        for key in ["paths", "/v1/jobs", "post", "requestBody", "content", "application/json", "schema", "properties", "kind"] {
            node = (node as? [String: Any])?[key]
        }
        let kind = node as? [String: Any]
        let documented = try XCTUnwrap(kind?["enum"] as? [String], "POST /v1/jobs: kind has no enum")
        XCTAssertEqual(documented.sorted(), JobCatalog.registry().kinds, "the kinds in openapi.yaml against the registry's")
    }

    /// Every error code the server's source can answer with (`code: "…"` in the ingress and in
    /// the routes `cityos` adds) is in `ErrorDetail.code`'s list, and every metric the ingress
    /// registers is named in `/metrics`'s description: the probes above reach only some of them.
    func testTheDocumentNamesEveryErrorCodeAndMetricTheSourceHas() async throws {
        harness = try await IngressHarness.start()
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
        func literals(_ pattern: String, under folders: [String]) throws -> Set<String> {
            let expression = try NSRegularExpression(pattern: pattern)
            var found = Set<String>()
            for folder in folders {
                let root = sources.appendingPathComponent(folder)
                let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?
                    .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" } ?? []
                for file in files {
                    let text = try String(contentsOf: file, encoding: .utf8)
                    for match in expression.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                        if let range = Range(match.range(at: 1), in: text) { found.insert(String(text[range])) }
                    }
                }
            }
            return found
        }
        let codes = try literals(#"code: "([a-z_]+)""#, under: ["Ingress", "cityos"])
        XCTAssertGreaterThan(codes.count, 10, "the scan found the source's error codes")
        let documented = try await documentedErrorCodes()
        XCTAssertEqual(codes.subtracting(documented), [], "error codes the source answers with that openapi.yaml does not list")

        let metrics = try literals(#""(cityos_[a-z_]+)""#, under: ["Ingress/Metrics"])
        XCTAssertGreaterThan(metrics.count, 5, "the scan found the ingress's metrics")
        let answer = try await harness.request(.GET, "/openapi.yaml")
        var node: Any? = try Yams.load(yaml: answer.text)
        for key in ["paths", "/metrics", "get", "description"] { node = (node as? [String: Any])?[key] }
        let description = try XCTUnwrap(node as? String, "/metrics has no description")
        XCTAssertEqual(metrics.filter { !description.contains($0) }, [], "metrics /metrics's description does not name")
    }

    func testArgsThatAreNotAnObjectAre400() async throws {
        harness = try await IngressHarness.start()
        for args in ["[1]", "\"x\"", "3"] {
            let answer = try await harness.ops(.POST, "/v1/jobs", json: #"{"kind":"diag.noop","args":"# + args + "}")
            XCTAssertEqual(answer.status, 400, "args \(args): \(answer.text)")
            XCTAssertEqual(answer.json.flatMap { ($0["error"] as? [String: Any])?["message"] as? String },
                           "'args' must be a JSON object")
        }
        let null = try await harness.ops(.POST, "/v1/jobs", json: #"{"kind":"diag.noop","args":null,"tenant":null}"#)
        XCTAssertEqual(null.status, 202, null.text)
    }

    func testADocumentedPathAskedWithAnotherMethodIs405WithTheDocumentsMethodsInAllow() async throws {
        harness = try await IngressHarness.start(benchRoute: true)
        let operations = try await documentedOperations()
        for (template, methods) in operations.sorted(by: { $0.key < $1.key }) {
            let path = template.replacingOccurrences(of: "{source}", with: "stripe")
                .replacingOccurrences(of: "{queue}", with: "default").replacingOccurrences(of: "{id}", with: "x1")
            let answer = try await harness.request(.TRACE, path,
                                                   headers: [("Authorization", "Bearer \(IngressHarness.opsToken)")])
            XCTAssertEqual(answer.status, 405, "TRACE \(path): \(answer.text.prefix(300))")
            XCTAssertEqual(answer.errorCode, "method_not_allowed", "TRACE \(path)")
            var expected = Set(methods.keys)
            if expected.contains("GET") { expected.insert("HEAD") }
            let allowed = Set((answer.headers.first(name: "Allow") ?? "").split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
            })
            XCTAssertEqual(allowed, expected, "Allow for \(path)")
        }
        // The router takes a literal segment before a parameter and does not go back: DELETE on
        // `/dead/retry-all` reaches no route, so `Allow` does not offer it.
        let delete = try await harness.request(.DELETE, "/v1/queues/default/dead/retry-all",
                                               headers: [("Authorization", "Bearer \(IngressHarness.opsToken)")])
        XCTAssertEqual(delete.status, 405, delete.text)
        XCTAssertEqual(delete.headers.first(name: "Allow"), "POST")
        let deeper = try await harness.request(.POST, "/v1/queues/default/dead/retry-all/retry",
                                               headers: [("Authorization", "Bearer \(IngressHarness.opsToken)")])
        XCTAssertEqual(deeper.status, 404, deeper.text)
        XCTAssertEqual(deeper.errorCode, "not_found")
        // HEAD, which `Allow` offers wherever GET is, answers as GET does, without the body.
        let head = try await harness.request(.HEAD, "/healthz")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.body, [])
        let headWithoutToken = try await harness.request(.HEAD, "/v1/status")
        XCTAssertEqual(headWithoutToken.status, 401, "HEAD goes through the same authentication as GET")
        let unknown = try await harness.request(.GET, "/v1/queues/default")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(unknown.errorCode, "not_found")
    }
}
