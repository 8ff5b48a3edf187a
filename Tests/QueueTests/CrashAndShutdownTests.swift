import CityOSTesting
import Foundation
import Jobs
@testable import Queue
import Redis
import Synchronization
import XCTest

/// Guarantees 3 and 6: a killed worker process loses nothing; SIGTERM loses nothing and
/// strands nothing. These use real `cityos work` processes.
final class CrashAndShutdownTests: XCTestCase {
    func testAWorkerKilledWithJobsInFlightLosesNoneOfThem() async throws {
        let harness = try QueueHarness()
        let jobs = (0..<60).map { _ in
            harness.client.makeEnvelope(kind: SleepJob.kind, args: .object(["ms": .number(300)]))
        }
        _ = try await harness.client.enqueueBatch(jobs)
        let worker = try ChildProcess(
            arguments: ["work", "--queues", "default", "--concurrency", "10"],
            environment: try harness.childEnvironment(["CITYOS_WORKERS_HEARTBEAT_TTL_SECONDS": "1"]))
        try await eventually("the worker never took jobs; log: \(worker.logPath)") {
            try await harness.queue("default")?.inFlight ?? 0 >= 5
        }
        worker.signal(SIGKILL)
        _ = try await worker.waitForExit()
        let heldAtDeath = try await harness.queue("default")?.inFlight ?? 0
        XCTAssertGreaterThan(heldAtDeath, 0, "the killed worker held jobs")

        try await harness.withPool(concurrency: 20) { _ in
            // The recovered jobs are suspects, run one at a time: allow for that on a slow machine.
            try await eventually(timeout: .seconds(60), "not every job completed after recovery") {
                let q = try await harness.queue("default")
                return q?.processed == 60 && q?.ready == 0 && q?.inFlight == 0
            }
        }
        let queue = try await harness.queue("default")
        XCTAssertGreaterThanOrEqual(queue?.recovered ?? 0, heldAtDeath, "the dead process's jobs were recovered")
        XCTAssertEqual(queue?.dead, 0)
        let stored = try await harness.redis.send("HLEN", .string(QueueKeys(queue: "default", namespace: harness.namespace).jobs)).int
        XCTAssertEqual(stored, 0, "every job finished and was removed")
        let awaited1 = try await harness.status().processes.isEmpty
        XCTAssertTrue(awaited1, "the dead process is deregistered")
        try await harness.clean()
    }

    /// A job whose worker process dies each time it runs it (a job that traps or exhausts its
    /// process) becomes a dead letter at the third death, saying so, instead of killing every
    /// worker in turn for ever; the jobs that were in flight beside it the first time run apart
    /// from it afterwards (suspects run one at a time), finish, and are not blamed. A death does
    /// not use an attempt; a replay starts the count afresh.
    func testAJobWhoseWorkerDiesEachTimeIsADeadLetterAtTheCrashLimitAndItsNeighboursAreNotBlamed() async throws {
        let harness = try QueueHarness()
        let poison = harness.client.makeEnvelope(kind: SleepJob.kind, args: .object(["ms": .number(60_000)]))
        let neighbours = (0..<4).map { _ in harness.client.makeEnvelope(kind: SleepJob.kind, args: .object(["ms": .number(3_000)])) }
        _ = try await harness.client.enqueueBatch([poison] + neighbours)
        let suspectKey = GlobalKeys(namespace: harness.namespace)
        for round in 1...3 {
            let worker = try ChildProcess(
                arguments: ["work", "--queues", "default", "--concurrency", "10"],
                environment: try harness.childEnvironment(["CITYOS_WORKERS_HEARTBEAT_TTL_SECONDS": "1"]))
            try await eventually(timeout: .seconds(60), "round \(round): the job never ran where it could be blamed; log: \(worker.logPath)") {
                let q = try await harness.queue("default")
                guard q?.recovered ?? 0 >= round - 1, q?.ready == 0 else { return false }
                if round == 1 { return q?.inFlight == 5 }   // all five held: a death blames all five
                // Later: the poison runs alone in this round's worker, marked as its running suspect.
                let processes = try await harness.status().processes.filter { $0.pid == Int(worker.pid) }.map(\.id)
                for process in processes {
                    if let marked = try await harness.redis.send("GET", .string(suspectKey.suspect(process))).string,
                       RunningSuspect(stored: marked)?.id == poison.id { return true }
                }
                return false
            }
            worker.signal(SIGKILL)
            _ = try await worker.waitForExit()
        }
        try await harness.withPool { _ in
            let seen = QueueSeen()
            do {
                try await eventually(timeout: .seconds(60), "the third death did not make the job a dead letter, or a neighbour did not finish") {
                    let q = try await harness.queue("default")
                    seen.note("dead \(q?.dead ?? -1), processed \(q?.processed ?? -1), ready \(q?.ready ?? -1), "
                              + "in flight \(q?.inFlight ?? -1), delayed \(q?.delayed ?? -1), recovered \(q?.recovered ?? -1)")
                    return q?.dead == 1 && q?.processed == 4
                }
            } catch {
                XCTFail("last seen: \(seen.last)")
                throw error
            }
        }
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.processed, 4, "the neighbours ran apart from it and finished")
        XCTAssertEqual(queue?.dead, 1, "only the poison is a dead letter")
        XCTAssertEqual(queue?.ready, 0, "not back in line a third time")
        let letter = try await harness.deadLetters.show(queue: "default", id: poison.id)
        let envelope = try XCTUnwrap(letter.envelope)
        XCTAssertEqual(envelope.crashes, 3)
        XCTAssertEqual(envelope.attempt, 0, "a death does not use an attempt")
        XCTAssertEqual(envelope.errors.count, 3, "each death is in the history")
        XCTAssertTrue(envelope.errors.last?.message.contains("died while running it 3 times") == true,
                      envelope.errors.last?.message ?? "")
        XCTAssertTrue(harness.events.starts(of: poison.id).isEmpty, "the recovering pool did not run it")

        _ = try await harness.deadLetters.retry(queue: "default", id: poison.id)
        let replayed = try await harness.redis.send("HGET", .string(QueueKeys(queue: "default", namespace: harness.namespace).jobs),
                                                    .string(poison.id)).bytes
        let again = try JobEnvelope.decode(try XCTUnwrap(replayed, "the replay is stored"))
        XCTAssertNil(again.crashes, "a replay starts the count afresh")
        try await harness.clean()
    }

    func testSIGTERMDuringARunLosesNothingAndLeavesNothingInFlight() async throws {
        let harness = try QueueHarness()
        let short = (0..<5).map { _ in harness.client.makeEnvelope(kind: SleepJob.kind, args: .object(["ms": .number(200)])) }
        let long = (0..<15).map { _ in harness.client.makeEnvelope(kind: SleepJob.kind, args: .object(["ms": .number(20_000)])) }
        _ = try await harness.client.enqueueBatch(short + long)
        let worker = try ChildProcess(
            arguments: ["work", "--queues", "default", "--concurrency", "10"],
            environment: try harness.childEnvironment(["CITYOS_WORKERS_SHUTDOWN_GRACE_SECONDS": "1"]))
        try await eventually("the worker never took jobs; log: \(worker.logPath)") {
            try await harness.queue("default")?.inFlight == 10
        }
        worker.signal(SIGTERM)
        let status = try await worker.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(status, 0, "a graceful shutdown exits 0; log:\n\(worker.log)")

        let awaited2 = try await harness.queue("default")
        let queue = try XCTUnwrap(awaited2)
        XCTAssertEqual(queue.inFlight, 0, "nothing stays stuck in flight")
        XCTAssertEqual(queue.processed, 5, "the short jobs finished within the grace period")
        XCTAssertEqual(queue.ready, 15, "the interrupted and untaken jobs are back in the queue")
        XCTAssertEqual(queue.failed, 0, "an interruption is not a failed attempt")
        let awaited3 = try await harness.status().processes.isEmpty
        XCTAssertTrue(awaited3, "the process deregistered")
        try await harness.clean()
    }

    /// A stopped pool stays deregistered: its heartbeat ends before the deregistration, so no beat
    /// on its way meanwhile registers it again (status would show a worker that has exited, and the
    /// others would "recover" it a TTL later). Beats every 2 ms here, so that one is often on its way
    /// when the pool deregisters, in one round or another; each round then waits 30 ms for a late one.
    func testAStoppedPoolIsNotRegisteredAgainByALateBeat() async throws {
        let harness = try QueueHarness()
        let keys = GlobalKeys(namespace: harness.namespace)
        for round in 1...20 {
            let pool = harness.makePool(heartbeatTTL: .milliseconds(6))
            let task = Task { try await pool.run() }
            try await eventually(timeout: .seconds(5), "round \(round): the pool to register") {
                try await harness.status().processes.count == 1
            }
            pool.stop()
            try await task.value
            // What is checked is that nothing happens: a beat already sent lands within a round trip.
            try await Task.sleep(for: .milliseconds(30))
            let registered = try await harness.redis.send("ZCARD", .string(keys.processes)).int
            XCTAssertEqual(registered, 0, "round \(round): a beat registered the stopped pool again")
        }
        try await harness.clean()
    }

    /// A worker started before its Redis (containers started together) waits for it rather than
    /// exiting at once, which would make its supervisor restart it in a loop; once Redis answers it
    /// registers and works.
    func testAWorkerStartedBeforeRedisWaitsForItThenWorks() async throws {
        let port = try TestEnvironment.freePort()
        let url = "redis://127.0.0.1:\(port)/0"
        let namespace = TestEnvironment.uniqueNamespace("late-redis")
        let worker = try ChildProcess(arguments: ["work", "--queues", "default"], environment: [
            "CITYOS_REDIS_URL": url, "CITYOS_REDIS_NAMESPACE": namespace, "CITYOS_LOG_LEVEL": "info"])
        defer { worker.signal(SIGKILL) }
        try await eventually("the worker to say it waits for Redis; log:\n\(worker.log)") {
            worker.log.contains("waiting for Redis")
        }
        XCTAssertTrue(worker.isRunning, "the worker exited instead of waiting:\n\(worker.log)")
        let redisServer = try XCTUnwrap(["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }, "redis-server")
        let redis = try ChildProcess(executable: redisServer, arguments: [
            "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        defer { redis.signal(SIGKILL) }
        let client = try RedisClient(url: url)
        defer { client.shutdown() }
        try await eventually("the late Redis to answer") { (try? await client.send("PING").string) == "PONG" }
        let jobs = JobClient(redis: client, registry: JobCatalog.registry(), namespace: namespace)
        _ = try await jobs.enqueue(NoopJob.self, .init())
        try await eventually(timeout: .seconds(20), "the job to run once Redis is up; log:\n\(worker.log)") {
            (try await QueueStatus.read(redis: client, namespace: namespace).queues.first { $0.name == "default" }?.processed) == 1
        }
        worker.signal(SIGTERM)
        let status = try await worker.waitForExit(timeout: .seconds(15))
        XCTAssertEqual(status, 0, worker.log)
    }
}

/// The last state a wait saw, for its failure message.
private final class QueueSeen: Sendable {
    private let value = Mutex("")
    func note(_ text: String) { value.withLock { $0 = text } }
    var last: String { value.withLock { $0 } }
}
