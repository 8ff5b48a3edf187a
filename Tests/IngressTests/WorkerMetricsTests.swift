import AsyncHTTPClient
import CityOSTesting
import Foundation
import Jobs
import NIOCore
import NIOHTTP1
import Queue
import XCTest

/// `cityos work --metrics-port`: a worker process scaled out on its own host can be scraped for
/// its jobs' counters and durations, and serves nothing else.
final class WorkerMetricsTests: XCTestCase {
    func testAWorkerProcessServesItsOwnJobMetricsAndNothingElse() async throws {
        let harness = try QueueHarness()
        let jobs = (0..<5).map { _ in harness.client.makeEnvelope(kind: NoopJob.kind, args: .object([:])) }
        _ = try await harness.client.enqueueBatch(jobs)
        let worker = try ChildProcess(arguments: ["work", "--queues", "default", "--metrics-port", "0"],
                                      environment: try harness.childEnvironment())
        var port: Int?
        try await eventually("the worker never said where its metrics listen; log: \(worker.logPath)") {
            port = Self.metricsPort(in: worker.log)
            return port != nil
        }
        let base = "http://127.0.0.1:\(try XCTUnwrap(port))"
        try await eventually("the worker did not run the jobs; log: \(worker.logPath)") {
            try await harness.queue("default")?.processed == 5
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let metrics = try await Self.get(http, base + "/metrics")
            XCTAssertEqual(metrics.status, 200)
            XCTAssertTrue(metrics.body.contains(#"cityos_jobs_processed_total{queue="default",kind="diag.noop"} 5"#)
                          || metrics.body.contains(#"cityos_jobs_processed_total{kind="diag.noop",queue="default"} 5"#),
                          "the worker's own job counter:\n\(metrics.body)")
            XCTAssertTrue(metrics.body.contains("cityos_job_duration_seconds"), metrics.body)
            XCTAssertFalse(metrics.body.contains("cityos_queue_depth"),
                           "the queues' gauges are the ingress's: summed over workers they would count jobs many times")
            let ready = try await Self.get(http, base + "/readyz")
            XCTAssertEqual(ready.status, 200, ready.body)
            let status = try await Self.get(http, base + "/v1/status")
            XCTAssertEqual(status.status, 404, "a worker's port serves no ops API")
            let webhook = try await Self.get(http, base + "/webhooks/stripe", method: .POST)
            XCTAssertEqual(webhook.status, 404, "a worker's port takes no webhooks")
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        worker.signal(SIGTERM)
        let exit = try await worker.waitForExit()
        XCTAssertEqual(exit, 0, "SIGTERM stops the worker and its metrics server; log:\n\(worker.log)")
        try await harness.clean()
    }

    /// The port of the log line `metrics listening` (JSON logs on standard error).
    static func metricsPort(in log: String) -> Int? {
        for line in log.split(separator: "\n") where line.contains(#""msg":"metrics listening""#) {
            guard let range = line.range(of: #""port":""#) else { continue }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        return nil
    }

    static func get(_ http: HTTPClient, _ url: String, method: HTTPMethod = .GET) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        let response = try await http.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 4 << 20)
        return (Int(response.status.code), String(buffer: body))
    }
}
