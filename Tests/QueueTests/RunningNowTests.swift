import CityOSTesting
import Foundation
import Jobs
@testable import Queue
import Redis
import XCTest

/// What runs now (`RunningNow`): each worker process publishes its running jobs with its
/// heartbeat, and operators read them per queue, longest first.
final class RunningNowTests: XCTestCase {
    /// When `id` started, as the pool's observer saw it (ms since the epoch).
    private func startedAt(_ id: String, _ harness: QueueHarness) throws -> Int64 {
        try XCTUnwrap(harness.events.starts(of: id).first?.wallMillis, "job \(id) never started")
    }

    func testRunningJobsAreListedPerQueueLongestFirstWithTheirProcessAttemptAndTimeout() async throws {
        let harness = try QueueHarness()
        let running = RunningNow(redis: harness.redis, namespace: harness.namespace)
        let pool = harness.makePool(queues: [("default", 1), ("payouts", 1)], grace: .milliseconds(100))
        let task = Task { try await pool.run() }
        let first = try await harness.client.enqueue(SleepJob.self, .init(ms: 20_000), options: .init(tenant: "acme")).id
        try await eventually("the first job never started") { !harness.events.starts(of: first).isEmpty }
        let second = try await harness.client.enqueue(SleepJob.self, .init(ms: 20_000)).id
        let payout = try await harness.client.enqueue(SleepJob.self, .init(ms: 20_000), options: .init(queue: "payouts")).id
        try await eventually("the three jobs were not published with a heartbeat") {
            try await running.read().count == 3
        }

        let (total, jobs) = try await running.list(queue: "default")
        XCTAssertEqual(total, 2)
        XCTAssertEqual(jobs.map(\.id), [first, second], "the longest-running first")
        let job = try XCTUnwrap(jobs.first)
        XCTAssertEqual(job.kind, SleepJob.kind)
        XCTAssertEqual(job.tenant, "acme")
        XCTAssertEqual(job.attempt, 1)
        XCTAssertEqual(job.maxAttempts, 3)
        XCTAssertEqual(job.timeoutSeconds, 30)
        XCTAssertEqual(job.process, pool.configuration.processID)
        XCTAssertEqual(Double(job.startedAt), Double(try startedAt(first, harness)), accuracy: 1_000)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(job.runningForSeconds), 0)
        let payouts = try await running.list(queue: "payouts")
        XCTAssertEqual(payouts.jobs.map(\.id), [payout], "each queue lists its own")
        let page = try await running.list(queue: "default", offset: 1, limit: 1)
        XCTAssertEqual(page.total, 2)
        XCTAssertEqual(page.jobs.map(\.id), [second])
        let status = try await harness.status()
        let longest = try XCTUnwrap(status.queues.first { $0.name == "default" }?.longestRunningSeconds, "the status says how long")
        XCTAssertGreaterThanOrEqual(longest, try XCTUnwrap(jobs.last?.runningForSeconds), "the longest of the queue's")
        XCTAssertNotNil(status.queues.first { $0.name == "payouts" }?.longestRunningSeconds)
        let found = try await JobLookup(redis: harness.redis, namespace: harness.namespace).find(queue: "default", id: first)
        XCTAssertEqual(found?.state, .inFlight)
        XCTAssertEqual(found?.startedAt, job.startedAt, "the job finder says when it started")

        let env = try harness.childEnvironment()
        let cli = try ChildProcess(arguments: ["running", "default"], environment: env)
        let exit = try await cli.waitForExit()
        XCTAssertEqual(exit, 0, cli.log)
        XCTAssertTrue(cli.log.contains("2 running in default"), cli.log)
        let line = try XCTUnwrap(cli.log.split(separator: "\n").first { $0.hasPrefix(first) }, cli.log)
        let match = try XCTUnwrap(line.wholeMatch(of: /\S+  diag\.sleep  tenant=acme  attempt 1\/3  for \d+s of 30s  on (\S+)/), cli.log)
        XCTAssertEqual(String(match.1), pool.configuration.processID)

        let everyQueue = try await running.list(queue: nil)
        XCTAssertEqual(Set(everyQueue.jobs.map(\.id)), [first, second, payout], "every queue's")
        XCTAssertEqual(everyQueue.jobs.first?.id, first, "the longest-running first")
        let all = try ChildProcess(arguments: ["running"], environment: env)
        let allExit = try await all.waitForExit()
        XCTAssertEqual(allExit, 0, all.log)
        XCTAssertTrue(all.log.contains("3 running in every queue"), all.log)
        XCTAssertTrue(all.log.contains("payouts  \(payout)  diag.sleep"), all.log)

        // A process that stops returns its jobs and takes its list with it.
        pool.stop()
        try await task.value
        let after = try await running.read()
        XCTAssertEqual(after.map(\.id), [], "a stopped process lists nothing")
        let stopped = try await harness.status()
        XCTAssertEqual(stopped.queues.compactMap(\.longestRunningSeconds), [], "nothing runs")
        try await harness.clean()
    }

    func testALongJobsLatestProgressNoteIsShownWithIt() async throws {
        var registry = JobCatalog.registry()
        registry.register(ProgressJob())
        let harness = try QueueHarness(registry: registry)
        let running = RunningNow(redis: harness.redis, namespace: harness.namespace)
        let long = String(repeating: "é", count: 150)   // 300 bytes: cut to 200, whole characters
        let id = try await harness.client.enqueue(ProgressJob.self, .init(notes: ["1 of 3 pages", "2 of 3 pages"])).id
        let other = try await harness.client.enqueue(ProgressJob.self, .init(notes: [long])).id
        let pool = harness.makePool(grace: .milliseconds(100))
        let task = Task { try await pool.run() }
        try await eventually("the jobs' progress was not published with a heartbeat") {
            try await running.read().filter { $0.progress != nil }.count == 2
        }
        let jobs = try await running.list(queue: "default").jobs
        let reported = try XCTUnwrap(jobs.first { $0.id == id })
        XCTAssertEqual(reported.progress, "2 of 3 pages", "the latest note")
        let at = try XCTUnwrap(reported.progressAt)
        XCTAssertGreaterThanOrEqual(at, reported.startedAt)
        XCTAssertEqual(jobs.first { $0.id == other }?.progress, String(repeating: "é", count: 100))

        let cli = try ChildProcess(arguments: ["running", "default"], environment: try harness.childEnvironment())
        let exit = try await cli.waitForExit()
        XCTAssertEqual(exit, 0, cli.log)
        XCTAssertTrue(cli.log.contains("progress: 2 of 3 pages"), cli.log)
        pool.stop()
        try await task.value
        try await harness.clean()
    }

    func testAProcessPublishesItsLongestRunningJobsUpToTheCap() throws {
        let jobs = (0..<(RunningNow.publishedPerProcess + 50)).map { i in
            RunningNow.Job(id: "job-\(i)", queue: "default", kind: "diag.sleep", tenant: nil, attempt: 1, maxAttempts: 3,
                           startedAt: 1_000_000 - Int64(i), timeoutSeconds: 30)
        }
        let published = try JSONDecoder().decode([RunningNow.Job].self, from: Data(RunningNow.published(jobs).utf8))
        XCTAssertEqual(published.count, RunningNow.publishedPerProcess)
        XCTAssertEqual(published.first?.id, "job-\(RunningNow.publishedPerProcess + 49)", "the one that started first")
        XCTAssertEqual(published.map(\.startedAt), published.map(\.startedAt).sorted())
    }
}
