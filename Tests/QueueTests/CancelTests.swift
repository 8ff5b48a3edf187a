import CityOSTesting
import Foundation
import Jobs
@testable import Queue
import Redis
import XCTest

/// Cancelling a job before it starts (`JobCancel`): out of line, into the dead letters with the
/// reason, replayable; never a job that runs, never silently.
final class CancelTests: XCTestCase {
    private func ring(_ harness: QueueHarness, _ queue: String = "default") async throws -> [String] {
        let keys = QueueKeys(queue: queue, namespace: harness.namespace)
        return (try await harness.redis.send("LRANGE", .string(keys.ring), 0, -1).array ?? []).compactMap(\.string)
    }

    func testAReadyJobBecomesADeadLetterWithTheReasonAndCanBeReplayed() async throws {
        let harness = try QueueHarness()
        let cancelling = JobCancel(redis: harness.redis, namespace: harness.namespace)
        let first = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(tenant: "acme")).id
        let second = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(tenant: "acme")).id
        let other = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(tenant: "globex")).id

        let entry = try await cancelling.cancel(queue: "default", id: first, reason: "wrong vendor")
        XCTAssertEqual(entry.id, first)
        XCTAssertEqual(entry.envelope?.errors.last?.message, "cancelled by an operator: wrong vendor")
        let afterFirst = try await harness.queue("default")
        XCTAssertEqual(afterFirst?.ready, 2)
        XCTAssertEqual(afterFirst?.dead, 1)
        XCTAssertEqual(afterFirst?.cancelled, 1)

        // The last job of a tenant leaves the round-robin ring with it.
        _ = try await cancelling.cancel(queue: "default", id: other)
        let tenants = try await ring(harness)
        XCTAssertEqual(tenants, ["acme"])
        let dead = try await harness.deadLetters.show(queue: "default", id: other)
        XCTAssertEqual(dead.envelope?.errors.last?.message, "cancelled by an operator")

        // Workers see only what is left, and a replayed cancellation runs after all.
        try await harness.deadLetters.retry(queue: "default", id: first)
        try await harness.withPool { _ in
            try await eventually("the remaining and the replayed jobs did not run") {
                Set(harness.events.succeededIDs) == [first, second]
            }
        }
        XCTAssertTrue(harness.events.starts(of: other).isEmpty, "a cancelled job ran")
        let final = try await harness.queue("default")
        XCTAssertEqual(final?.processed, 2)
        XCTAssertEqual(final?.dead, 1)
        try await harness.clean()
    }

    /// Retry-all brings back what failed, not what an operator took out of line on purpose: a
    /// cancelled payout must not run because someone replayed a queue after an outage.
    func testRetryAllLeavesCancelledLettersUnlessTheFilterNamesThem() async throws {
        let failing = Switch()
        var registry = JobCatalog.registry()
        registry.register(SwitchJob(failing: failing))
        let harness = try QueueHarness(registry: registry)
        let cancelled = try await harness.client.enqueue(SwitchJob.self, .init()).id
        _ = try await JobCancel(redis: harness.redis, namespace: harness.namespace)
            .cancel(queue: "default", id: cancelled, reason: "duplicate payout")
        let failed = try await harness.client.enqueue(SwitchJob.self, .init()).id
        try await harness.withPool { _ in
            try await eventually("the failing job never died") { harness.events.deadReason(failed) != nil }
        }
        failing.turnOff()

        let all = try await harness.deadLetters.retryAll(queue: "default")
        XCTAssertEqual(all, DeadLetters.BulkReplay(retried: 1, leftCancelled: 1, leftLiveTwin: 0))
        XCTAssertTrue(all.summary.contains("1 cancelled by an operator"), all.summary)
        let byKind = try await harness.deadLetters.retryAll(queue: "default", filter: .init(kind: SwitchJob.kind))
        XCTAssertEqual(byKind, DeadLetters.BulkReplay(retried: 0, leftCancelled: 1, leftLiveTwin: 0))
        let (total, entries) = try await harness.deadLetters.list(queue: "default")
        XCTAssertEqual(total, 1)
        XCTAssertEqual(entries.map(\.id), [cancelled])

        // A filter that matches only the cancellation's reason ("duplicate") names a failure, not a
        // cancellation: the cancelled payout stays dead.
        let byReason = try await harness.deadLetters.retryAll(queue: "default", filter: .init(errorContains: "DUPLICATE"))
        XCTAssertEqual(byReason, DeadLetters.BulkReplay(retried: 0, leftCancelled: 1, leftLiveTwin: 0))
        let byPart = try await harness.deadLetters.retryAll(queue: "default", filter: .init(errorContains: "cancel"))
        XCTAssertEqual(byPart, DeadLetters.BulkReplay(retried: 0, leftCancelled: 1, leftLiveTwin: 0),
                       "a part of the word may name a failure about cancelling something")

        // Named by its error text, it is replayed: the operator asked for exactly these.
        let named = try await harness.deadLetters.retryAll(queue: "default",
                                                           filter: .init(errorContains: "Cancelled by an operator: duplicate payout"))
        XCTAssertEqual(named, DeadLetters.BulkReplay(retried: 1, leftCancelled: 0, leftLiveTwin: 0))
        try await harness.withPool { _ in
            try await eventually("both replayed jobs to run") { Set(harness.events.succeededIDs) == [failed, cancelled] }
        }
        try await harness.clean()
    }

    /// A dead letter whose id was enqueued again: replaying it would overwrite the live job and
    /// put the id in line twice, so it is refused (409 in the API) and retry-all leaves it.
    func testADeadLetterWhoseIdLivesAgainIsNotReplayedOverIt() async throws {
        let harness = try QueueHarness()
        let id = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(jobID: "twin-1")).id
        _ = try await JobCancel(redis: harness.redis, namespace: harness.namespace).cancel(queue: "default", id: id)
        let again = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(jobID: "twin-1"))
        XCTAssertTrue(again.created, "the id is free again once its job is a dead letter")

        do {
            try await harness.deadLetters.retry(queue: "default", id: id)
            XCTFail("replayed over a live job")
        } catch let failure as DeadLetters.Failure {
            XCTAssertEqual(failure, .liveTwin(queue: "default", id: id))
            XCTAssertEqual(failure.refusal, .conflict)
            XCTAssertTrue(failure.description.contains("cityos dead delete default twin-1"), failure.description)
        }
        // Named by its error text, so that the bulk replay considers this cancelled letter at all.
        let replayed = try await harness.deadLetters.retryAll(queue: "default", filter: .init(errorContains: "cancelled"))
        XCTAssertEqual(replayed, DeadLetters.BulkReplay(retried: 0, leftCancelled: 0, leftLiveTwin: 1))
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let line = try await harness.redis.send("LRANGE", .string(keys.tenantList("_")), 0, -1).array ?? []
        XCTAssertEqual(line.compactMap(\.string), [id], "the id is in line once")
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.dead, 1, "the dead letter stays")
        try await harness.clean()
    }

    func testAScheduledJobIsTakenOutOfTheSchedule() async throws {
        let harness = try QueueHarness()
        let id = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(delaySeconds: 3_600)).id
        _ = try await JobCancel(redis: harness.redis, namespace: harness.namespace).cancel(queue: "default", id: id)
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.delayed, 0)
        XCTAssertEqual(queue?.dead, 1)
        let found = try await JobLookup(redis: harness.redis, namespace: harness.namespace).find(queue: "default", id: id)
        XCTAssertEqual(found?.state, .dead)
        try await harness.clean()
    }

    func testARunningJobADeadLetterAndAnUnknownIdAreNotCancelledAndSaySo() async throws {
        let harness = try QueueHarness()
        let cancelling = JobCancel(redis: harness.redis, namespace: harness.namespace)
        let id = try await harness.client.enqueue(SleepJob.self, .init(ms: 1_000)).id
        let pool = harness.makePool()
        let task = Task { try await pool.run() }
        try await eventually("the job never started") { !harness.events.starts(of: id).isEmpty }
        do {
            _ = try await cancelling.cancel(queue: "default", id: id)
            XCTFail("a running job was cancelled")
        } catch let failure as JobCancel.Failure {
            XCTAssertEqual(failure, .running(queue: "default", id: id, process: pool.configuration.processID))
            XCTAssertTrue(failure.description.contains("cannot be cancelled"), failure.description)
        }
        try await eventually("the running job did not finish") { harness.events.succeeded(id) }
        pool.stop()
        try await task.value

        do {
            _ = try await cancelling.cancel(queue: "default", id: "no-such-job")
            XCTFail("an unknown job was cancelled")
        } catch let failure as JobCancel.Failure {
            XCTAssertEqual(failure, .notFound(queue: "default", id: "no-such-job"))
        }
        let waiting = try await harness.client.enqueue(NoopJob.self, .init()).id
        do {
            _ = try await cancelling.cancel(queue: "default", id: waiting, reason: String(repeating: "x", count: 201))
            XCTFail("a 201-byte reason was taken")
        } catch let failure as OperatorReason.TooLong {
            XCTAssertEqual(failure.bytes, 201)
        }
        _ = try await cancelling.cancel(queue: "default", id: waiting)
        do {
            _ = try await cancelling.cancel(queue: "default", id: waiting)
            XCTFail("a dead letter was cancelled again")
        } catch let failure as JobCancel.Failure {
            XCTAssertEqual(failure, .alreadyDead(queue: "default", id: waiting))
        }
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.cancelled, 1)
        XCTAssertEqual(queue?.processed, 1)
        try await harness.clean()
    }

    func testTheCLICancelsAJobAndRefusesASecondTime() async throws {
        let harness = try QueueHarness()
        let id = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(queue: "payouts")).id
        let env = try harness.childEnvironment()
        let cancel = try ChildProcess(arguments: ["job", "payouts", id, "--cancel", "--reason", "duplicate payout"], environment: env)
        let cancelled = try await cancel.waitForExit()
        XCTAssertEqual(cancelled, 0, cancel.log)
        XCTAssertTrue(cancel.log.contains("cancelled \(id): now a dead letter of payouts"), cancel.log)
        let dead = try await harness.deadLetters.show(queue: "payouts", id: id)
        XCTAssertEqual(dead.envelope?.errors.last?.message, "cancelled by an operator: duplicate payout")
        let again = try ChildProcess(arguments: ["job", "payouts", id, "--cancel"], environment: env)
        let refused = try await again.waitForExit()
        XCTAssertEqual(refused, 2, again.log)
        XCTAssertTrue(again.log.contains("already a dead letter"), again.log)
        try await harness.clean()
    }
}
