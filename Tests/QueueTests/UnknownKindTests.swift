import CityOSTesting
import Foundation
import Jobs
@testable import Queue
import Redis
import XCTest

/// A job whose kind this worker's build has no handler for is most likely a newer build's, met
/// during a rolling deploy: it goes back to the schedule, unchanged and with no attempt counted,
/// until a worker that knows the kind takes it, and becomes a dead letter only once it has waited
/// `unknownKindPatience` since it was due.
final class UnknownKindTests: XCTestCase {
    func testAJobOfAKindThisBuildDoesNotKnowWaitsForAWorkerThatDoes() async throws {
        let (gate, harness) = try GateJob.harness()
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let id = try await harness.client.enqueue(GateJob.self, .init()).id
        let old = harness.makePool(registry: JobCatalog.registry())   // the build before: no `test.gate`
        let oldTask = Task { try await old.run() }
        try await eventually("the old build's worker never put the job back") {
            try await harness.redis.send("ZSCORE", .string(keys.schedule), .string(id)).string != nil
        }
        // Nothing to await for "nothing else happened": several put-backs' time (200 ms each here).
        try await Task.sleep(for: .seconds(1))
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.dead, 0, "not a dead letter")
        XCTAssertEqual(queue?.failed, 0, "no failed attempt counted")
        let stored = try await harness.redis.send("HGET", .string(keys.jobs), .string(id)).bytes
        let envelope = try JobEnvelope.decode(try XCTUnwrap(stored, "the job is still stored"))
        XCTAssertEqual(envelope.attempt, 0, "no attempt used")
        XCTAssertEqual(envelope.errors.count, 0)
        XCTAssertEqual(harness.events.starts(of: id).count, 0)
        old.stop()
        try await oldTask.value

        gate.open(.succeed)
        let new = harness.makePool()
        let newTask = Task { try await new.run() }
        try await eventually(timeout: .seconds(10), "the new build's worker never ran the job") { harness.events.succeeded(id) }
        XCTAssertEqual(harness.events.starts(of: id).count, 1)
        new.stop()
        try await newTask.value
        try await harness.clean()
    }

    func testAJobOfAnUnknownKindThatWaitedLongerThanThePatienceIsADeadLetter() async throws {
        let (_, harness) = try GateJob.harness()
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let twoHoursAgo = Clock.nowMillis() - 7_200_000
        let stale = JobEnvelope(kind: GateJob.kind, queue: "default", maxAttempts: 3, enqueuedAt: twoHoursAgo)
        let fresh = JobEnvelope(kind: GateJob.kind, queue: "default", maxAttempts: 3)
        // Enqueued long ago, but due only now (a retry, a replayed dead letter): it waits too.
        let replayed = JobEnvelope(kind: GateJob.kind, queue: "default", maxAttempts: 3, enqueuedAt: twoHoursAgo,
                                   dueAt: Clock.nowMillis())
        _ = try await harness.client.enqueueBatch([stale, fresh, replayed])
        let pool = harness.makePool(registry: JobCatalog.registry())   // patience: one hour
        let task = Task { try await pool.run() }
        try await eventually("the job that waited two hours never became a dead letter") {
            harness.events.deadReason(stale.id) != nil
        }
        XCTAssertEqual(harness.events.deadReason(stale.id), "unknown job kind 'test.gate': no handler is registered for it")
        try await eventually("the fresh job was never put back") {
            try await harness.redis.send("ZSCORE", .string(keys.schedule), .string(fresh.id)).string != nil
        }
        try await eventually("the job due only now was never put back") {
            try await harness.redis.send("ZSCORE", .string(keys.schedule), .string(replayed.id)).string != nil
        }
        XCTAssertNil(harness.events.deadReason(fresh.id), "the fresh one waits")
        XCTAssertNil(harness.events.deadReason(replayed.id), "the one due only now waits")
        pool.stop()
        try await task.value
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.dead, 1)
        try await harness.clean()
    }

    /// The put-back warning comes once a minute per kind, saying how many it held back.
    func testTheWarningComesOnceAMinutePerKindWithHowManyWereHeldBack() {
        let throttle = LogThrottle(interval: .seconds(60))
        let start = ContinuousClock.now
        XCTAssertEqual(throttle.pass("a", now: start), 0)
        XCTAssertNil(throttle.pass("a", now: start + .seconds(1)))
        XCTAssertNil(throttle.pass("a", now: start + .seconds(59)))
        XCTAssertEqual(throttle.pass("b", now: start + .seconds(2)), 0, "another kind has its own minute")
        XCTAssertEqual(throttle.pass("a", now: start + .seconds(61)), 2)
        XCTAssertNil(throttle.pass("a", now: start + .seconds(62)))
    }
}
