import CityOSTesting
import Foundation
import XCTest

/// `cityos bench http` is the instrument the ingress's throughput is reported with, so it is
/// checked against what the ingress stored: every answer it counts as accepted is a distinct
/// job in Redis, and the no-work route is counted as answered.
final class LoadGeneratorTests: XCTestCase {
    var harness: IngressHarness!

    override func tearDown() async throws {
        await harness?.stop()
    }

    private func load(_ route: String) async throws -> [String: Any] {
        let run = try ChildProcess(
            arguments: ["bench", "http", "--port", String(harness.port), "--route", route, "--duration", "1",
                        "--warmup", "0", "--connections", "4", "--events", "10000", "--json"],
            environment: ["CITYOS_WEBHOOK_SECRET_STRIPE": "whsec_stripe_test"])
        let status = try await run.waitForExit()
        XCTAssertEqual(status, 0, run.log)
        let line = run.log.split(separator: "\n").last { $0.hasPrefix("{") } ?? ""
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], run.log)
    }

    func testEveryWebhookItCountsAsAcceptedIsADistinctStoredJob() async throws {
        harness = try await IngressHarness.start()
        let result = try await load("webhooks")

        let ok = try XCTUnwrap(result["ok"] as? Int)
        XCTAssertGreaterThan(ok, 0)
        XCTAssertEqual(result["non2xx"] as? Int, 0)
        XCTAssertEqual(result["errors"] as? Int, 0)
        XCTAssertEqual(result["wrapped"] as? Bool, false)
        let stored = try await harness.storedWebhookJobs()
        XCTAssertGreaterThanOrEqual(stored.count, ok, "answers it counted that Redis does not hold")
        XCTAssertEqual(Set(stored.map(\.id)).count, stored.count, "each request a new event")
        XCTAssertLessThanOrEqual(try XCTUnwrap(result["p50Ms"] as? Double), try XCTUnwrap(result["p99Ms"] as? Double))
    }

    func testTheNoWorkRouteIsAnsweredWithoutAJob() async throws {
        harness = try await IngressHarness.start(benchRoute: true)
        let result = try await load("noop")

        XCTAssertGreaterThan(try XCTUnwrap(result["ok"] as? Int), 0)
        XCTAssertEqual(result["non2xx"] as? Int, 0)
        let stored = try await harness.storedWebhookJobs()
        XCTAssertEqual(stored.count, 0)
    }
}
