import CityOSTesting
import Foundation
import Jobs
@testable import Queue
import Redis
import XCTest

/// Pausing a queue (`QueuePause`): its workers take nothing new from it, everything else goes on,
/// and a resume lets the waiting jobs run at once.
final class PauseTests: XCTestCase {
    /// The fetch script itself, as a worker process `process` would call it.
    private func fetch(_ queue: String, harness: QueueHarness, process: String = "p-test") async throws -> [String] {
        let keys = QueueKeys(queue: queue, namespace: harness.namespace)
        let reply = try await harness.redis.run(
            QueueScripts.fetch,
            keys: [.string(keys.ring), .string(keys.jobs), .string(keys.inflight(process)), .string(keys.wake),
                   .string(keys.paused)],
            arguments: [.string(keys.prefix), .int(10)]).unwrapped()
        let items = reply.array ?? []
        return stride(from: 0, to: items.count - 1, by: 2).compactMap { items[$0].string }
    }

    func testAPausedQueueGivesNoJobToAFetchUntilItIsResumed() async throws {
        let harness = try QueueHarness()
        let pauses = QueuePause(redis: harness.redis, namespace: harness.namespace)
        var ids: [String] = []
        for _ in 0..<3 {
            ids.append(try await harness.client.enqueue(NoopJob.self, .init(), options: .init(queue: "payouts")).id)
        }
        _ = try await pauses.pause(queue: "payouts", reason: "Stripe incident")
        let whilePaused = try await fetch("payouts", harness: harness)
        XCTAssertEqual(whilePaused, [], "a paused queue gave jobs to a fetch")
        let held = try await harness.queue("payouts")
        XCTAssertEqual(held?.ready, 3, "the jobs stay ready while the queue is paused")
        XCTAssertEqual(held?.inFlight, 0)

        // Enqueues are still accepted while paused, and wait.
        let late = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(queue: "payouts"))
        XCTAssertTrue(late.created)

        let resumed = try await pauses.resume(queue: "payouts")
        XCTAssertFalse(resumed.paused)
        let afterResume = try await fetch("payouts", harness: harness)
        XCTAssertEqual(afterResume, ids + [late.id], "after the resume, the fetch takes the waiting jobs in order")
        try await harness.clean()
    }

    func testWorkersTakeNothingFromAPausedQueueServeTheOthersAndRunItsJobsOnceResumed() async throws {
        let harness = try QueueHarness()
        let pauses = QueuePause(redis: harness.redis, namespace: harness.namespace)
        _ = try await pauses.pause(queue: "payouts")
        var held: [String] = []
        for _ in 0..<3 {
            held.append(try await harness.client.enqueue(NoopJob.self, .init(), options: .init(queue: "payouts")).id)
        }
        var others: [String] = []
        for _ in 0..<20 {
            others.append(try await harness.client.enqueue(NoopJob.self, .init(), options: .init(queue: "mail")).id)
        }
        try await harness.withPool(queues: [("payouts", 1), ("mail", 1)], concurrency: 1) { _ in
            // One job per fetch, each fetch trying both queues in a random order: twenty fetches
            // that each had a chance to take a paused job first.
            try await eventually("the other queue's jobs did not all run") {
                Set(harness.events.succeededIDs).isSuperset(of: others)
            }
            XCTAssertEqual(held.filter { !harness.events.starts(of: $0).isEmpty }, [], "a job of the paused queue ran")
            let waiting = try await harness.queue("payouts")
            XCTAssertEqual(waiting?.ready, 3)
            XCTAssertEqual(waiting?.paused, true)

            _ = try await pauses.resume(queue: "payouts")
            try await eventually(timeout: .seconds(5), "the paused queue's jobs did not run after the resume") {
                Set(harness.events.succeededIDs).isSuperset(of: held)
            }
        }
        try await harness.clean()
    }

    func testAJobInFlightWhenItsQueueIsPausedFinishes() async throws {
        let harness = try QueueHarness()
        let receipt = try await harness.client.enqueue(SleepJob.self, .init(ms: 1_000), options: .init(queue: "payouts"))
        try await harness.withPool(queues: [("payouts", 1)]) { _ in
            try await eventually("the job never started") { !harness.events.starts(of: receipt.id).isEmpty }
            _ = try await QueuePause(redis: harness.redis, namespace: harness.namespace).pause(queue: "payouts")
            XCTAssertFalse(harness.events.succeeded(receipt.id), "the job finished before the pause: nothing was tested")
            try await eventually("the job in flight did not finish after the pause") { harness.events.succeeded(receipt.id) }
        }
        let queue = try await harness.queue("payouts")
        XCTAssertEqual(queue?.inFlight, 0)
        XCTAssertEqual(queue?.processed, 1)
        try await harness.clean()
    }

    /// `cityos status` prints each check's age, and a failing check's first samples below it.
    func testTheCLIStatusPrintsEachChecksAgeAndAFailingChecksFirstSamples() async throws {
        let harness = try QueueHarness()
        let checks = StatusChecks(redis: harness.redis, namespace: harness.namespace)
        try await checks.publish(StatusCheck(
            name: "money.reconcile", invariants: ["ledger_drift": 2], samples: ["t1/a", "t1/b", "t2/c", "t3/d"],
            checkedAt: Clock.nowMillis() - 300_000, jobID: "reconcile-1"))
        try await checks.publish(StatusCheck(name: "outbox.relay", invariants: ["failing_batches": 0], samples: [],
                                             checkedAt: Clock.nowMillis(), jobID: "outbox-relay"))
        let status = try ChildProcess(arguments: ["status"], environment: try harness.childEnvironment())
        let shown = try await status.waitForExit()
        XCTAssertEqual(shown, 0, status.log)
        XCTAssertTrue(status.log.contains("CHECK money.reconcile: 2 mismatches (ledger_drift=2) (checked 5m ago)\n"
                                          + "  t1/a\n  t1/b\n  t2/c\n\n"), "the first three samples:\n\(status.log)")
        XCTAssertNotNil(status.log.firstMatch(of: /CHECK outbox.relay: ok \(checked \d+s ago\)\n\n/), status.log)
        try await harness.clean()
    }

    func testTheCLIPausesAndResumesAQueueAndTheStatusSaysSo() async throws {
        let harness = try QueueHarness()
        let env = try harness.childEnvironment()
        let pause = try ChildProcess(arguments: ["queue", "pause", "payouts", "--reason", "Stripe incident"], environment: env)
        let paused = try await pause.waitForExit()
        XCTAssertEqual(paused, 0, pause.log)
        XCTAssertNotNil(pause.log.firstMatch(of: /paused payouts since \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z \(Stripe incident\)/), pause.log)
        let status = try ChildProcess(arguments: ["status"], environment: env)
        let shown = try await status.waitForExit()
        XCTAssertEqual(shown, 0, status.log)
        XCTAssertTrue(status.log.contains("! payouts: paused since ") && status.log.contains("(Stripe incident): no new job is taken"),
                      status.log)
        let badName = try ChildProcess(arguments: ["queue", "pause", "pay outs"], environment: env)
        let refusedName = try await badName.waitForExit()
        XCTAssertNotEqual(refusedName, 0, badName.log)
        XCTAssertTrue(badName.log.contains("the queue name must be 1-64 letters"), badName.log)
        let tooLong = try ChildProcess(arguments: ["queue", "pause", "mail", "--reason", String(repeating: "x", count: 201)],
                                       environment: env)
        let refused = try await tooLong.waitForExit()
        XCTAssertEqual(refused, 2, tooLong.log)
        XCTAssertTrue(tooLong.log.contains("at most 200"), tooLong.log)

        // A worker process started on a paused queue says so, and takes its jobs once resumed.
        let worker = try ChildProcess(arguments: ["work", "--queues", "payouts:1"], environment: env)
        defer { worker.signal(SIGKILL) }
        try await eventually("the worker did not say its queue is paused") {
            worker.log.contains("queue is paused: no job is taken from it until it is resumed")
                && worker.log.contains("Stripe incident")
        }
        _ = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(queue: "payouts"))
        let waiting = try await harness.queue("payouts")
        XCTAssertEqual(waiting?.ready, 1, "the paused queue's job waits")

        let resume = try ChildProcess(arguments: ["queue", "resume", "payouts"], environment: env)
        let resumed = try await resume.waitForExit()
        XCTAssertEqual(resumed, 0, resume.log)
        XCTAssertTrue(resume.log.contains("resumed payouts (paused since "), resume.log)
        let isPaused = try await harness.queue("payouts")?.paused
        XCTAssertEqual(isPaused, false)
        try await eventually("the worker did not run the job after the resume") {
            try await harness.queue("payouts")?.processed == 1
        }
        worker.signal(SIGTERM)
        let stopped = try await worker.waitForExit()
        XCTAssertEqual(stopped, 0, worker.log)
        let again = try ChildProcess(arguments: ["queue", "resume", "payouts"], environment: env)
        let resumedAgain = try await again.waitForExit()
        XCTAssertEqual(resumedAgain, 0, again.log)
        XCTAssertTrue(again.log.contains("payouts was not paused"), again.log)
        try await harness.clean()
    }

    func testThePauseIsShownInTheStatusWithItsTimeAndReason() async throws {
        let harness = try QueueHarness()
        let pauses = QueuePause(redis: harness.redis, namespace: harness.namespace)
        let before = Clock.nowMillis()
        // A queue that has never had a job can be paused ahead of its schedule, and is listed.
        let first = try await pauses.pause(queue: "payouts", reason: "vendor balances under review")
        XCTAssertEqual(first.paused, true)
        XCTAssertEqual(first.reason, "vendor balances under review")
        let at = try XCTUnwrap(first.pausedAt)
        XCTAssertGreaterThanOrEqual(at, before)
        let listed = try await harness.queue("payouts")
        XCTAssertEqual(listed?.paused, true)
        XCTAssertEqual(listed?.pausedAt, at)
        XCTAssertEqual(listed?.pauseReason, "vendor balances under review")

        // Pausing again keeps the first time and takes the new reason; no reason keeps the old one.
        let again = try await pauses.pause(queue: "payouts", reason: "still under review")
        XCTAssertEqual(again.pausedAt, at)
        XCTAssertEqual(again.reason, "still under review")
        let noReason = try await pauses.pause(queue: "payouts")
        XCTAssertEqual(noReason.reason, "still under review")

        do {
            _ = try await pauses.pause(queue: "mail", reason: String(repeating: "é", count: 101))
            XCTFail("a 202-byte reason was taken")
        } catch let failure as OperatorReason.TooLong {
            XCTAssertEqual(failure, OperatorReason.TooLong(bytes: 202))
        }
        let mail = try await harness.queue("mail")
        XCTAssertNil(mail, "a refused pause stored nothing")

        _ = try await pauses.resume(queue: "payouts")
        let resumed = try await harness.queue("payouts")
        XCTAssertEqual(resumed?.paused, false)
        XCTAssertNil(resumed?.pausedAt)
        XCTAssertNil(resumed?.pauseReason)
        let state = try await pauses.state(queue: "payouts")
        XCTAssertEqual(state, QueuePause.State(queue: "payouts", paused: false))
        try await harness.clean()
    }
}
