import CityOSTesting
import Foundation
import Jobs
import Queue
@testable import Scheduler
import XCTest

/// The schedules' alerts on `GET /metrics`, for monitoring to page on what `cityos status` prints.
final class ScheduleMetricsTests: XCTestCase {
    /// A missed tick is a gauge at 1 while it is missed, and 0 once a scheduler has run it.
    func testAMissedTickIsAGaugeAtOneUntilItRuns() async throws {
        let test = try TestRedis.make("missed-gauge")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = ScheduleDefinition(name: "hourly", cron: try CronExpression("0 * * * *"), jobKind: "diag.noop",
                                          file: "Schedules/hourly.yaml")
        let runner = try test.runner([schedule])
        await runner.poll(now: try TestTime.date("2026-03-28T09:30:00Z"))
        func readings(at time: String) async throws -> [String: Double] {
            let status = try await ScheduleStatus.read(schedules: [schedule], registry: JobCatalog.registry(), redis: test.redis,
                                                       namespace: test.namespace, now: try TestTime.date(time))
            XCTAssertEqual(status.gaugeReadings.first { $0.name == "cityos_schedule_alerts" }?.value, Double(status.alerts.count))
            return Dictionary(status.gaugeReadings.map { reading in
                (reading.name + reading.labels.map { "{\($0.name)=\($0.value)}" }.joined(), reading.value)
            }, uniquingKeysWith: { first, _ in first })
        }
        let late = try await readings(at: "2026-03-28T10:05:00Z")
        XCTAssertEqual(late["cityos_schedule_missed_tick{schedule=hourly}"], 1, "\(late)")
        XCTAssertEqual(late["cityos_schedule_enabled{schedule=hourly}"], 1)
        XCTAssertEqual(late["cityos_schedule_last_job_failing{schedule=hourly}"], 0)
        XCTAssertGreaterThanOrEqual(late["cityos_schedule_alerts"] ?? 0, 1, "the missed tick is an alert")

        await runner.poll(now: try TestTime.date("2026-03-28T10:05:00Z"))   // catch_up: latest runs it
        let caughtUp = try await readings(at: "2026-03-28T10:05:01Z")
        XCTAssertEqual(caughtUp["cityos_schedule_missed_tick{schedule=hourly}"], 0, "\(caughtUp)")
        XCTAssertEqual(caughtUp["cityos_schedule_last_run_timestamp_seconds{schedule=hourly}"],
                       try TestTime.date("2026-03-28T10:00:00Z").timeIntervalSince1970, "the tick it ran")
    }

    /// `cityos serve` serves them, the files read at each scrape: no scheduler running is an alert
    /// at once, and files that cannot be read leave the gauges out with `cityos_schedules_up 0`.
    func testServeShowsTheScheduleAlertsAndSaysWhenTheFilesCannotBeRead() async throws {
        let test = try TestRedis.make("serve-gauges")
        addTeardownBlock { await test.deleteNamespace() }
        let folder = try TemporaryDirectory("serve-gauges")
        addTeardownBlock { folder.remove() }
        try folder.write("schedules/nightly.yaml", """
            name: nightly
            cron: "0 3 * * *"
            job: diag.noop
            """)
        let port = try TestEnvironment.freePort()
        var environment = try test.cliEnvironment(schedules: folder)
        environment["CITYOS_HTTP_PORT"] = String(port)
        environment["CITYOS_OPS_TOKEN"] = "ops-token-gauges"
        let server = try ChildProcess(arguments: ["serve"], environment: environment)
        defer { server.signal(SIGKILL) }
        try await eventually("the ingress never said it listens; log: \(server.logPath)") {
            server.log.contains(#""msg":"ingress listening""#)
        }
        func scrape() throws -> String {
            let answers = try RawHTTP.exchange(port: port, RawHTTP.request("GET", "/metrics"), responses: 1)
            XCTAssertEqual(answers.first?.status, 200)
            return answers.first?.body ?? ""
        }
        let first = try scrape()
        for line in ["cityos_schedules_up 1.0", "cityos_schedulers_running 0.0", "cityos_schedule_alerts 1.0",
                     #"cityos_schedule_enabled{schedule="nightly"} 1.0"#, #"cityos_schedule_missed_tick{schedule="nightly"} 0.0"#] {
            XCTAssertTrue(first.contains(line + "\n"), "missing \(line) in:\n\(first)")
        }
        XCTAssertFalse(first.contains("cityos_schedule_last_run_timestamp_seconds{"), "nothing ran yet:\n\(first)")

        try folder.write("schedules/broken.yaml", "name: [unclosed")
        let broken = try scrape()
        XCTAssertTrue(broken.contains("cityos_schedules_up 0.0\n"), broken)
        XCTAssertFalse(broken.contains("cityos_schedule_enabled{"), "no series of the last scrape served as if current:\n\(broken)")
        XCTAssertTrue(broken.contains("cityos_redis_up 1.0\n"), "the queues' gauges are read apart:\n\(broken)")
        // The schedules report names the broken file: a 500 with its problem, not a bare "internal".
        let report = try RawHTTP.exchange(port: port, RawHTTP.request("GET", "/v1/schedules",
                                                                      headers: [("Authorization", "Bearer ops-token-gauges")]),
                                          responses: 1).first
        XCTAssertEqual(report?.status, 500)
        XCTAssertTrue(report?.body.contains(#""code":"schedules_unreadable""#) ?? false, report?.body ?? "")
        XCTAssertTrue(report?.body.contains("broken.yaml") ?? false, report?.body ?? "")
        server.signal(SIGTERM)
        _ = try await server.waitForExit()
    }
}
