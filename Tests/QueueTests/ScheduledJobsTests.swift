import CityOSTesting
import Foundation
import Jobs
@testable import Queue
import Redis
import XCTest

/// What waits in a queue's schedule (`ScheduledJobs`): listed soonest first, retries told from
/// delayed jobs, and one of them run now.
final class ScheduledJobsTests: XCTestCase {
    /// A job waiting out the backoff of a failed first attempt, due in `seconds`.
    private func waitingRetry(_ harness: QueueHarness, dueIn seconds: Double, queue: String = "default") async throws -> String {
        var envelope = harness.client.makeEnvelope(kind: NoopJob.kind, args: .object([:]),
                                                   options: .init(queue: queue, delaySeconds: seconds))
        envelope.attempt = 1
        envelope.errors = [JobErrorRecord(attempt: 1, at: Clock.nowMillis(), message: "Stripe answered 503")]
        _ = try await harness.client.enqueueBatch([envelope])
        return envelope.id
    }

    func testRetriesAndDelayedJobsAreListedSoonestFirstAndPaged() async throws {
        let harness = try QueueHarness()
        let later = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(delaySeconds: 3_600)).id
        let retry = try await waitingRetry(harness, dueIn: 600)
        _ = try await harness.client.enqueue(NoopJob.self, .init())   // ready: not listed
        let scheduled = ScheduledJobs(redis: harness.redis, namespace: harness.namespace)

        let (total, entries) = try await scheduled.list(queue: "default")
        XCTAssertEqual(total, 2)
        XCTAssertEqual(entries.map(\.id), [retry, later])
        XCTAssertEqual(entries.map(\.isRetry), [true, false])
        XCTAssertEqual(entries.first?.envelope?.errors.last?.message, "Stripe answered 503")
        let due = try XCTUnwrap(entries.first?.dueAt)
        XCTAssertEqual(Double(due - Clock.nowMillis()) / 1000, 600, accuracy: 5)
        let page2 = try await scheduled.list(queue: "default", offset: 1, limit: 1)
        XCTAssertEqual(page2.total, 2)
        XCTAssertEqual(page2.entries.map(\.id), [later])
        try await harness.clean()
    }

    func testAScheduledJobRunsNowAndAJobThatIsNotScheduledSaysWhereItIs() async throws {
        let harness = try QueueHarness()
        let scheduled = ScheduledJobs(redis: harness.redis, namespace: harness.namespace)
        let retry = try await waitingRetry(harness, dueIn: 3_600)
        let other = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(delaySeconds: 3_600)).id
        try await scheduled.runNow(queue: "default", id: retry)
        try await harness.withPool { _ in
            try await eventually("the job made due now did not run") { harness.events.succeeded(retry) }
        }
        XCTAssertTrue(harness.events.starts(of: other).isEmpty, "only the job asked for ran")
        XCTAssertEqual(harness.events.starts(of: retry).first.flatMap { entry -> Int? in
            if case .started(let header) = entry.event { return header.attempt } else { return nil }
        }, 1, "its attempts go on counting")
        let left = try await scheduled.list(queue: "default")
        XCTAssertEqual(left.entries.map(\.id), [other])

        // A job already due (no worker has promoted it yet) is never put later: Redis's clock
        // sets the time, and only an earlier one.
        let overdue = try await waitingRetry(harness, dueIn: 3_600)
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let past = Clock.nowMillis() - 60_000
        _ = try await harness.redis.send("ZADD", .string(keys.schedule), "XX", .int64(past), .string(overdue))
        try await scheduled.runNow(queue: "default", id: overdue)
        let score = try await harness.redis.send("ZSCORE", .string(keys.schedule), .string(overdue)).string.flatMap(Double.init)
        XCTAssertEqual(score, Double(past), "an overdue job keeps its due time")
        _ = try await harness.redis.send("ZREM", .string(keys.schedule), .string(overdue))

        let ready = try await harness.client.enqueue(NoopJob.self, .init()).id
        do {
            try await scheduled.runNow(queue: "default", id: ready)
            XCTFail("a ready job was made due")
        } catch let failure as ScheduledJobs.Failure {
            XCTAssertEqual(failure, .notScheduled(queue: "default", id: ready, state: .ready))
        }
        do {
            try await scheduled.runNow(queue: "default", id: "no-such-job")
            XCTFail("an unknown job was made due")
        } catch let failure as ScheduledJobs.Failure {
            XCTAssertEqual(failure, .notFound(queue: "default", id: "no-such-job"))
        }
        let members = try await harness.redis.send("ZCARD", .string(keys.schedule)).int
        XCTAssertEqual(members, 1, "a failed run-now added nothing to the schedule")
        try await harness.clean()
    }

    func testTheCLIListsTheScheduleAndRunsAJobNow() async throws {
        let harness = try QueueHarness()
        let retry = try await waitingRetry(harness, dueIn: 600, queue: "payouts")
        let env = try harness.childEnvironment()
        let list = try ChildProcess(arguments: ["scheduled", "payouts"], environment: env)
        let listed = try await list.waitForExit()
        XCTAssertEqual(listed, 0, list.log)
        XCTAssertTrue(list.log.contains("1 scheduled in payouts"), list.log)
        XCTAssertNotNil(list.log.firstMatch(of: /attempts=1  due \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z  retry  Stripe answered 503/), list.log)
        let now = try ChildProcess(arguments: ["job", "payouts", retry, "--run-now"], environment: env)
        let ran = try await now.waitForExit()
        XCTAssertEqual(ran, 0, now.log)
        XCTAssertTrue(now.log.contains("\(retry) is due now"), now.log)
        let due = try await harness.redis.send("ZSCORE", .string(QueueKeys(queue: "payouts", namespace: harness.namespace).schedule),
                                               .string(retry)).string
        let dueAt = try XCTUnwrap(due.flatMap(Double.init), "still in the schedule until a worker promotes it")
        XCTAssertLessThanOrEqual(dueAt, Double(Clock.nowMillis()), "due now")
        let again = try ChildProcess(arguments: ["job", "payouts", "no-such-job", "--run-now"], environment: env)
        let refused = try await again.waitForExit()
        XCTAssertEqual(refused, 2, again.log)
        try await harness.clean()
    }

    /// Promotion's due decision against Redis's clock (`TIME` in the script): a job due a second ago
    /// by it is made ready, one due in a minute stays in the schedule. (The test host shares Redis's
    /// clock, so this guards the script's decision, not the choice of clock itself.)
    func testPromotionMovesWhatIsDueByRedissClock() async throws {
        let harness = try QueueHarness()
        let time = try await harness.redis.send("TIME").array?.compactMap(\.string).compactMap(Int64.init) ?? []
        let redisNow = try XCTUnwrap(time.count == 2 ? time[0] * 1000 + time[1] / 1000 : nil)
        var due = harness.client.makeEnvelope(kind: NoopJob.kind, args: .object([:]), options: .init())
        due.dueAt = redisNow + 60_000
        var later = harness.client.makeEnvelope(kind: NoopJob.kind, args: .object([:]), options: .init())
        later.dueAt = redisNow + 60_000
        _ = try await harness.client.enqueueBatch([due, later])
        // Its time moved to a second ago by Redis's clock.
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        try await harness.redis.send("ZADD", .string(keys.schedule), "XX", .int64(redisNow - 1_000), .string(due.id))
        let before = try await harness.queue("default")
        XCTAssertEqual(before?.delayed, 2, "both wait in the schedule")
        let promoter = Promoter(redis: harness.redis, queues: ["default"], namespace: harness.namespace, interval: .seconds(1),
                                logger: TestEnvironment.logger)
        let moved = try await promoter.promoteDue()
        XCTAssertEqual(moved, [1])
        let after = try await harness.queue("default")
        XCTAssertEqual(after?.ready, 1)
        XCTAssertEqual(after?.delayed, 1, "the one due in a minute stays")
        try await harness.clean()
    }

    /// Promotion reads the tenant from the envelope's head as the platform writes it, and decodes
    /// the envelope only when the head is another (another writer's key order): each job lands in
    /// its tenant's ready list either way, and a job with no tenant in the `_` list.
    func testPromotionPutsEachJobInItsTenantsListHoweverItsEnvelopeIsWritten() async throws {
        let harness = try QueueHarness()
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let far = Clock.nowMillis() + 3_600_000
        let acme = harness.client.makeEnvelope(kind: NoopJob.kind, args: .object(["big": .string(String(repeating: "x", count: 100_000))]),
                                               options: .init(tenant: "acme-1", runAtMillis: far))
        let none = harness.client.makeEnvelope(kind: NoopJob.kind, args: .object([:]), options: .init(runAtMillis: far))
        _ = try await harness.client.enqueueBatch([acme, none])
        let other = "other-writer-" + UUID().uuidString
        try await harness.redis.send("HSET", .string(keys.jobs), .string(other),
                                     .string(#"{"kind":"diag.noop","tenant":"beta","id":"\#(other)","queue":"default","args":{}}"#))
        for id in [acme.id, none.id, other] {
            try await harness.redis.send("ZADD", .string(keys.schedule), "1", .string(id))
        }
        let promoter = Promoter(redis: harness.redis, queues: ["default"], namespace: harness.namespace, interval: .seconds(1),
                                logger: TestEnvironment.logger)
        let moved = try await promoter.promoteDue()
        XCTAssertEqual(moved, [3])
        for (tenant, id) in [("acme-1", acme.id), ("_", none.id), ("beta", other)] {
            let listed = try await harness.redis.send("LRANGE", .string(keys.prefix + "t:" + tenant), 0, -1).array?.compactMap(\.string)
            XCTAssertEqual(listed, [id], "tenant \(tenant)")
        }
        try await harness.clean()
    }
}
