import CityOSTesting
import Foundation
import Jobs
@testable import Queue
import Redis
import XCTest

/// A live worker taken for dead (it could not beat for a TTL: paused, starved, cut off from Redis)
/// has its running jobs put back in line by another process. It keeps its capacity when it fetches
/// one of them again, and stays registered when it beats again during the recovery.
final class TakenForDeadTests: XCTestCase {
    /// The job is put back while it runs, and the same worker fetches it again: the earlier run is
    /// superseded and the slot it held given back. Before, that run lost its claim and returned
    /// without giving back its slot: each time, the worker lost one slot for good, and here (two
    /// slots, one run) it could not take the next job at all.
    func testAJobFetchedAgainWhileItsEarlierRunStillRunsGivesBackThatRunsSlot() async throws {
        let (gate, harness) = try GateJob.harness()
        let pool = harness.makePool(concurrency: 2, heartbeatTTL: .seconds(30))
        let task = Task { try await pool.run() }
        let job = try await harness.client.enqueue(GateJob.self, .init()).id
        try await eventually("the job never started") { harness.events.starts(of: job).count == 1 }

        // Another process's recovery, as after this one missed its beats for a TTL (its key
        // expired); then it beats again, and may fetch.
        let recovery = CrashRecovery(redis: harness.redis, crashLimit: 3, deadLetterCap: 100, logger: TestEnvironment.logger)
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let processKey = GlobalKeys(namespace: harness.namespace).process(pool.configuration.processID)
        try await harness.redis.send("DEL", .string(processKey))
        let recovered = try await recovery.recover(process: pool.configuration.processID, processKey: processKey, keys: keys,
                                                   runningSuspect: nil)
        XCTAssertEqual(recovered.requeued, 1)
        try await pool.heartbeat.beat()
        try await eventually("the worker never fetched the job again") { harness.events.starts(of: job).count == 2 }

        let next = try await harness.client.enqueue(GateJob.self, .init()).id
        try await eventually("the next job never started: the superseded run's slot was not given back") {
            harness.events.starts(of: next).count == 1
        }
        gate.open(.succeed)
        try await eventually("the jobs never finished") { harness.events.succeeded(job) && harness.events.succeeded(next) }
        let successes = harness.events.succeededIDs.filter { $0 == job }
        XCTAssertEqual(successes.count, 1, "one outcome for the job: the superseded run's is ignored")
        try await eventually("the job never left the in-flight hash") { try await harness.queue("default")?.inFlight == 0 }
        pool.stop()
        try await task.value
        try await harness.clean()
    }

    /// A process that beats between being found missing and its recovery is alive: the recovery
    /// touches none of its jobs (it checks the key in the same script that moves them). And a
    /// process whose key is gone (taken for dead, perhaps forgotten) takes nothing until it beats:
    /// what it took would be in the in-flight hash of no registered process.
    func testNeitherARecoveryOfALiveProcessNorAFetchByOneWithoutAHeartbeatMovesAJob() async throws {
        let (gate, harness) = try GateJob.harness()
        let pool = harness.makePool(concurrency: 2, heartbeatTTL: .seconds(30))
        let task = Task { try await pool.run() }
        let job = try await harness.client.enqueue(GateJob.self, .init()).id
        try await eventually("the job never started") { harness.events.starts(of: job).count == 1 }
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let processKey = GlobalKeys(namespace: harness.namespace).process(pool.configuration.processID)
        let recovery = CrashRecovery(redis: harness.redis, crashLimit: 3, deadLetterCap: 100, logger: TestEnvironment.logger)
        let outcome = try await recovery.recover(process: pool.configuration.processID, processKey: processKey, keys: keys,
                                                 runningSuspect: nil)
        XCTAssertEqual(outcome, CrashRecovery.Outcome(requeued: 0, buried: 0, alive: true))
        let held = try await harness.redis.send("HEXISTS", .string(keys.inflight(pool.configuration.processID)), .string(job)).int
        XCTAssertEqual(held, 1, "still the live process's")
        gate.open(.succeed)
        try await eventually("the job never finished") { harness.events.succeeded(job) }
        pool.stop()
        try await task.value

        // A fetch as a process with no heartbeat key takes nothing; once it beats, it does.
        let next = try await harness.client.enqueue(NoopJob.self, .init()).id
        let ghost = GlobalKeys(namespace: harness.namespace).process("p-ghost")
        func fetch() async throws -> [String] {
            let reply = try await harness.redis.run(
                QueueScripts.fetch,
                keys: [.string(keys.ring), .string(keys.jobs), .string(keys.inflight("p-ghost")), .string(keys.wake),
                       .string(keys.paused), .string(ghost)],
                arguments: [.string(keys.prefix), .int(10)])
            let items = reply.array ?? []
            return stride(from: 0, to: items.count - 1, by: 2).compactMap { items[$0].string }
        }
        let unregistered = try await fetch()
        XCTAssertEqual(unregistered, [], "no heartbeat key: nothing taken")
        try await harness.redis.send("SET", .string(ghost), "1", "PX", "30000")
        let registered = try await fetch()
        XCTAssertEqual(registered, [next], "with its key, the process takes the job")
        try await harness.clean()
    }

    /// The job is put back while it runs and another worker runs it too; the first run then fails.
    /// Its retry finds the job no longer held here and writes nothing: nor is it reported (no
    /// "will retry" event, no failed count) as though it had been. The other run's outcomes are.
    func testAnOutcomeForAJobNoLongerHeldIsNeitherWrittenNorReported() async throws {
        let (gate, harness) = try GateJob.harness()
        let a = harness.makePool(concurrency: 1, heartbeatTTL: .seconds(30))
        let b = harness.makePool(concurrency: 1, heartbeatTTL: .seconds(30))
        let aTask = Task { try await a.run() }
        let bTask = Task { try await b.run() }
        let job = try await harness.client.enqueue(GateJob.self, .init()).id
        try await eventually("the job never started") { harness.events.starts(of: job).count == 1 }
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let holder = try await harness.redis.send("HEXISTS", .string(keys.inflight(a.configuration.processID)), .string(job)).int == 1
            ? a : b
        let recovery = CrashRecovery(redis: harness.redis, crashLimit: 3, deadLetterCap: 100, logger: TestEnvironment.logger)
        let processKey = GlobalKeys(namespace: harness.namespace).process(holder.configuration.processID)
        try await harness.redis.send("DEL", .string(processKey))
        _ = try await recovery.recover(process: holder.configuration.processID, processKey: processKey, keys: keys, runningSuspect: nil)
        try await holder.heartbeat.beat()
        try await eventually("the other worker never ran the job") { harness.events.starts(of: job).count == 2 }

        gate.open(.fail)
        try await eventually("the job never became a dead letter") { harness.events.deadReason(job) != nil }
        XCTAssertEqual(harness.events.retries(of: job).count, 1,
                       "one retry, the other run's: the first run's failure changed nothing and is not reported")
        let counts = [a, b].compactMap { $0.metrics.byQueue["default"] }
        XCTAssertEqual(counts.reduce(0) { $0 + $1.failed }, 2, "the other run's two failed attempts (a retry, then dead)")
        XCTAssertEqual(counts.reduce(0) { $0 + $1.dead }, 1)
        a.stop()
        b.stop()
        try await aTask.value
        try await bTask.value
        try await harness.clean()
    }

    /// A process found dead is taken out of the registry only while its key is still missing: one
    /// that beat meanwhile stays registered, so that the jobs it fetches from then on are recovered
    /// should it die after all.
    func testAProcessThatBeatDuringItsRecoveryStaysRegistered() async throws {
        let harness = try QueueHarness()
        let keys = GlobalKeys(namespace: harness.namespace)
        let process = "ghost-\(UUID().uuidString.prefix(8))"
        try await harness.redis.send("ZADD", .string(keys.processes), 1, .string(process))
        try await harness.redis.send("SET", .string(keys.suspect(process)), "default|job-1")
        try await harness.redis.send("HSET", .string(keys.process(process)), "pid", "1")   // it beat again
        let kept = try await harness.redis.run(ProcessScripts.forget, keys: [
            .string(keys.process(process)), .string(keys.processes), .string(keys.suspect(process))], arguments: [.string(process)])
        XCTAssertEqual(kept.int, 0)
        let stillRegistered = try await harness.redis.send("ZSCORE", .string(keys.processes), .string(process))
        XCTAssertNotNil(stillRegistered.string, "registered while it beats")
        let suspect = try await harness.redis.send("EXISTS", .string(keys.suspect(process)))
        XCTAssertEqual(suspect.int, 1, "its suspect mark kept")

        try await harness.redis.send("DEL", .string(keys.process(process)))   // and now it is gone for good
        let forgotten = try await harness.redis.run(ProcessScripts.forget, keys: [
            .string(keys.process(process)), .string(keys.processes), .string(keys.suspect(process))], arguments: [.string(process)])
        XCTAssertEqual(forgotten.int, 1)
        let gone = try await harness.redis.send("ZSCORE", .string(keys.processes), .string(process))
        XCTAssertNil(gone.string)
        try await harness.clean()
    }

    /// A suspect's mark names its run: a run of the job that ended late (timed out, deaf to
    /// cancellation) does not clear the mark of the same job's next run, whose death must still be
    /// blamed on it. A mark of an earlier build (no run) still reads.
    func testASuspectsMarkIsClearedOnlyByTheRunThatWroteIt() async throws {
        let harness = try QueueHarness()
        let lane = SuspectLane(redis: harness.redis, namespace: harness.namespace, processID: "p-1", logger: TestEnvironment.logger)
        let key = GlobalKeys(namespace: harness.namespace).suspect("p-1")
        await lane.mark(queue: "default", id: "job-1", run: 2)
        await lane.clear(queue: "default", id: "job-1", run: 1)
        let kept = try await harness.redis.send("GET", .string(key)).string
        XCTAssertEqual(kept.flatMap(RunningSuspect.init(stored:)), RunningSuspect(queue: "default", id: "job-1", run: 2))
        await lane.clear(queue: "default", id: "job-1", run: 2)
        let cleared = try await harness.redis.send("EXISTS", .string(key)).int
        XCTAssertEqual(cleared, 0)
        XCTAssertEqual(RunningSuspect(stored: "default\njob-1"), RunningSuspect(queue: "default", id: "job-1"))
        try await harness.clean()
    }

    /// A beat writes the process's hash with its expiry in one script, and says whether the key
    /// was still there: not after it expired (the process could not beat for a TTL).
    func testABeatSetsTheExpiryWithTheHashAndTellsWhenTheKeyHadExpired() async throws {
        let harness = try QueueHarness()
        // The pool is not run: its own heartbeat loop, beating between the DEL and the beat
        // below, would bring the key back first.
        let pool = harness.makePool(heartbeatTTL: .seconds(30))
        let key = GlobalKeys(namespace: harness.namespace).process(pool.configuration.processID)
        let heartbeat = pool.heartbeat
        try await heartbeat.beat(first: true)
        let registered = try await harness.redis.send("EXISTS", .string(key)).int
        XCTAssertEqual(registered, 1, "the first beat registers the process")
        let ttl = try await harness.redis.send("PTTL", .string(key)).int ?? -1
        XCTAssertGreaterThan(ttl, 0, "the hash expires")
        XCTAssertLessThanOrEqual(ttl, 30_000)
        let again = try await heartbeat.beat()
        XCTAssertTrue(again, "the key was there")
        try await harness.redis.send("DEL", .string(key))
        let afterExpiry = try await heartbeat.beat()
        XCTAssertFalse(afterExpiry, "the key had gone: others may have taken this process for dead")
        let ttlAfter = try await harness.redis.send("PTTL", .string(key)).int ?? -1
        XCTAssertGreaterThan(ttlAfter, 0)
        try await harness.clean()
    }
}
