import CityOSTesting
import Foundation
import Jobs
@testable import Queue
import Redis
import XCTest

/// A worker whose outcome Redis did not take, and workers that outlive a Redis outage: nothing
/// may stay in flight for nobody, be lost, or go to a second runner while its first still runs.
///
/// Redis refusing outcomes is made real with an ACL: every key ending in "ts" is refused to the
/// default user. Of the queue's keys that is only the stats hash, which every outcome script
/// (ack, retry, bury, requeue) writes and no fetch or heartbeat touches. The worker then meets
/// what it meets when Redis answers with an error (-LOADING while it reads its data after a
/// restart, -BUSY, -MISCONF): an error reply, nothing written. `ACL LOG` tells when it happened.
final class OutcomeWriteTests: XCTestCase {
    private var acl: RedisClient?

    override func tearDown() async throws {
        if let acl {
            try await Self.allowOutcomes(acl)
            acl.shutdown()
        }
        acl = nil
    }

    private func refuseOutcomes() async throws {
        let redis = try TestEnvironment.redis(connections: 1)
        acl = redis
        try await redis.send("ACL", "LOG", "RESET")
        try await redis.send("ACL", "SETUSER", "default", "resetkeys", "~*[^s]", "~*[^t]s")
    }

    private static func allowOutcomes(_ redis: RedisClient) async throws {
        try await redis.send("ACL", "SETUSER", "default", "resetkeys", "allkeys")
    }

    /// Whether Redis refused a write to `queue`'s stats since `refuseOutcomes()`.
    private func refusedAnOutcome(_ harness: QueueHarness, queue: String = "default") async throws -> Bool {
        let stats = QueueKeys(queue: queue, namespace: harness.namespace).stats
        let entries = try await harness.redis.send("ACL", "LOG").array ?? []
        return entries.contains { ($0.array ?? []).contains { $0.string == stats } }
    }

    /// A gated job running in a pool, then outcomes refused and the gate opened with `outcome`:
    /// the job ends while Redis refuses to record it. Returns when Redis has refused it.
    private func refusedOutcome(_ outcome: Gate.Outcome)
        async throws -> (harness: QueueHarness, pool: WorkerPool, task: Task<Void, any Error>, id: String) {
        let (gate, harness) = try GateJob.harness()
        let pool = harness.makePool()
        let task = Task { try await pool.run() }
        let id = try await harness.client.enqueue(GateJob.self, .init()).id
        try await eventually("the job never started") { !harness.events.starts(of: id).isEmpty }
        try await refuseOutcomes()
        gate.open(outcome)
        try await eventually("Redis never refused the job's outcome") { try await refusedAnOutcome(harness) }
        return (harness, pool, task, id)
    }

    private func inFlight(_ harness: QueueHarness, _ pool: WorkerPool, _ id: String) async throws -> Bool {
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        return try await harness.redis.send("HEXISTS", .string(keys.inflight(pool.configuration.processID)), .string(id)).int == 1
    }

    /// A failed attempt's write that cannot reach Redis keeps trying; once this process fetches
    /// the job again (it was put back in line meanwhile), that write is stale and stops, written
    /// nowhere, while a write for the new run of the same job goes on being tried.
    func testAnOutcomeOfARunWhoseJobWasFetchedAgainIsDroppedAndTheNewRunsIsNot() async throws {
        let unreachable = try RedisClient(url: "redis://127.0.0.1:1/0")
        defer { unreachable.shutdown() }
        let recorder = OutcomeRecorder(redis: unreachable, processID: "p-test", namespace: "test-stale-outcome",
                                       deadLetterCap: 10, metrics: WorkerMetrics(), logger: TestEnvironment.logger)
        let envelope = JobEnvelope(kind: NoopJob.kind, queue: "default", maxAttempts: 3)
        let old = Task { await recorder.retry(envelope, dueMillis: Clock.nowMillis(), lease: Lease(1), logger: TestEnvironment.logger) }
        try await eventually("the old run's write to be under way") { recorder.held.contains(envelope.id) }
        recorder.fetchedAgain([envelope.id, "another-job"])
        let oldWritten = await old.value
        XCTAssertFalse(oldWritten, "the stale write stopped without writing")

        let new = Task { await recorder.retry(envelope, dueMillis: Clock.nowMillis(), lease: Lease(1), logger: TestEnvironment.logger) }
        try await eventually("the new run's write to be under way") { recorder.held.contains(envelope.id) }
        // Given several tries' time (100, 200, 400 ms): it must still be trying, not dropped.
        try await Task.sleep(for: .milliseconds(800))
        XCTAssertTrue(recorder.held.contains(envelope.id), "the new run's write is still being tried")
        recorder.close()
        let newWritten = await new.value
        XCTAssertFalse(newWritten, "given up only when the recorder closed")
    }

    func testAnAckRedisRefusedIsWrittenOnceRedisTakesIt() async throws {
        let (harness, pool, task, id) = try await refusedOutcome(.succeed)
        let refusedStillHeld = try await inFlight(harness, pool, id)
        XCTAssertTrue(refusedStillHeld, "a refused ack removed nothing")
        try await Self.allowOutcomes(try XCTUnwrap(acl))

        try await eventually(timeout: .seconds(5), "the ack was never written again: the job stays in flight for nobody") {
            try await !inFlight(harness, pool, id)
        }
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.processed, 1)
        XCTAssertEqual(queue?.inFlight, 0)
        pool.stop()
        try await task.value
        XCTAssertEqual(harness.events.starts(of: id).count, 1, "run once")
        try await harness.clean()
    }

    /// An ack still refused when the pool stops is tried again for a while before the pool
    /// returns what it holds; before, the last try was the only one, and the job that had
    /// succeeded went back to its queue (or stayed in flight, to be recovered) and ran again.
    func testAnAckRefusedAtShutdownIsWrittenBeforeThePoolLeaves() async throws {
        let (harness, pool, task, id) = try await refusedOutcome(.succeed)
        let refusedBefore = try await refusals(harness)
        pool.stop()
        try await eventually(timeout: .seconds(5), "the stopping pool never tried its last ack") {
            try await refusals(harness) > refusedBefore
        }
        try await Self.allowOutcomes(try XCTUnwrap(acl))
        try await task.value
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.processed, 1, "the ack was written")
        XCTAssertEqual(queue?.ready, 0, "the job that succeeded was not returned to run again")
        XCTAssertEqual(queue?.inFlight, 0)
        XCTAssertEqual(harness.events.starts(of: id).count, 1)
        try await harness.clean()
    }

    /// How many writes to the default queue's stats Redis has refused (`ACL LOG`'s count).
    private func refusals(_ harness: QueueHarness) async throws -> Int {
        let stats = QueueKeys(queue: "default", namespace: harness.namespace).stats
        let entries = try await harness.redis.send("ACL", "LOG").array ?? []
        var total = 0
        for entry in entries.compactMap(\.array) where entry.contains(where: { $0.string == stats }) {
            if let at = entry.firstIndex(where: { $0.string == "count" }), at + 1 < entry.count { total += entry[at + 1].int ?? 0 }
        }
        return total
    }

    func testAFailedAttemptRedisRefusedIsRecordedOnceRedisTakesIt() async throws {
        let (harness, pool, task, id) = try await refusedOutcome(.fail)
        try await Self.allowOutcomes(try XCTUnwrap(acl))

        // Recorded: the retry runs (and fails again, its last attempt), so the job ends a dead letter.
        try await eventually(timeout: .seconds(10), "the failed attempt was never recorded: the job stays in flight") {
            harness.events.deadReason(id) != nil
        }
        XCTAssertEqual(harness.events.starts(of: id).count, 2, "two attempts, each run once")
        let dead = try await harness.deadLetters.list(queue: "default")
        XCTAssertEqual(dead.entries.map(\.id), [id])
        pool.stop()
        try await task.value
        try await harness.clean()
    }

    func testAWorkerThatCouldNotReturnItsJobsStaysRegisteredSoThatTheyAreRecovered() async throws {
        let (gate, harness) = try GateJob.harness()
        let first = harness.makePool(grace: .milliseconds(100), heartbeatTTL: .seconds(1))
        let firstTask = Task { try await first.run() }
        let id = try await harness.client.enqueue(GateJob.self, .init()).id
        try await eventually("the job never started") { !harness.events.starts(of: id).isEmpty }
        try await refuseOutcomes()
        first.stop()   // interrupts the job; returning it is refused
        try await firstTask.value
        try await Self.allowOutcomes(try XCTUnwrap(acl))
        let held = try await inFlight(harness, first, id)
        XCTAssertTrue(held, "the job could not be returned")

        gate.open(.succeed)
        let second = harness.makePool()
        let secondTask = Task { try await second.run() }
        try await eventually(timeout: .seconds(10), "the job of the stopped worker was never recovered") {
            harness.events.succeeded(id)
        }
        XCTAssertEqual(harness.events.starts(of: id).count, 2)
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.recovered, 1)
        second.stop()
        try await secondTask.value
        try await harness.clean()
    }

    /// A fetch whose answer never came (Redis ran the script, the reply timed out): the job is in
    /// the worker's own in-flight hash and in no line, and no other process returns it while this
    /// one beats. The worker itself must.
    func testAJobAFetchTookButNeverDeliveredIsReturnedAndRun() async throws {
        let harness = try QueueHarness()
        let pool = harness.makePool()
        let id = try await harness.client.enqueue(NoopJob.self, .init()).id
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let taken = try await harness.redis.run(
            QueueScripts.fetch,
            keys: [.string(keys.ring), .string(keys.jobs), .string(keys.inflight(pool.configuration.processID)),
                   .string(keys.wake), .string(keys.paused)],
            arguments: [.string(keys.prefix), .int(1)])
        XCTAssertEqual(taken.array?.first?.string, id, "the fetch took the job for the pool, which never heard of it")

        let task = Task { try await pool.run() }
        try await eventually(timeout: .seconds(20), "the job held for nobody was never returned and run") {
            harness.events.succeeded(id)
        }
        try await eventually("the job was not acknowledged") { try await harness.queue("default")?.processed == 1 }
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.recovered, 1)
        XCTAssertEqual(queue?.inFlight, 0)
        XCTAssertEqual(harness.events.starts(of: id).count, 1)
        pool.stop()
        try await task.value
        try await harness.clean()
    }

    /// Redis down for longer than the heartbeat TTL comes back with every heartbeat key expired,
    /// live workers' too. The first worker back must not take the others for dead.
    func testWorkersThatOutliveARedisOutageLongerThanTheTTLDoNotRecoverEachOthersJobs() async throws {
        let (gate, harness) = try GateJob.harness()
        let ttl = Duration.seconds(2)
        let a = harness.makePool(concurrency: 1, heartbeatTTL: ttl)
        let aTask = Task { try await a.run() }
        let first = try await harness.client.enqueue(GateJob.self, .init()).id
        try await eventually("the first job never started") { !harness.events.starts(of: first).isEmpty }
        let b = harness.makePool(concurrency: 1, heartbeatTTL: ttl)
        let bTask = Task { try await b.run() }
        let second = try await harness.client.enqueue(GateJob.self, .init()).id
        try await eventually("the second job never started") { !harness.events.starts(of: second).isEmpty }

        try await RedisServerControl.stop()
        try await Task.sleep(for: ttl + .seconds(1))   // the outage itself, longer than the TTL
        try await RedisServerControl.start()
        let global = GlobalKeys(namespace: harness.namespace)
        try await eventually(timeout: .seconds(10), "the workers never beat again after Redis came back") {
            let a = try await harness.redis.send("EXISTS", .string(global.process(a.configuration.processID))).int
            let b = try await harness.redis.send("EXISTS", .string(global.process(b.configuration.processID))).int
            return a == 1 && b == 1
        }
        // Nothing to await for "nothing happened": watch two TTLs, in which both check each other.
        try await Task.sleep(for: ttl * 2)
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.recovered, 0, "no live worker was taken for dead")
        XCTAssertEqual(queue?.ready, 0, "no running job was put back in line")
        XCTAssertEqual(queue?.inFlight, 2)

        gate.open(.succeed)
        try await eventually("the two jobs never finished") { harness.events.succeeded(first) && harness.events.succeeded(second) }
        XCTAssertEqual(harness.events.starts(of: first).count, 1)
        XCTAssertEqual(harness.events.starts(of: second).count, 1)
        a.stop()
        b.stop()
        try await aTask.value
        try await bTask.value
        try await harness.clean()
    }
}
