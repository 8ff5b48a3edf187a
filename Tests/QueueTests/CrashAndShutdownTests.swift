import CityOSTesting
import Foundation
import Jobs
import Queue
import Redis
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
            try await eventually(timeout: .seconds(20), "not every job completed after recovery") {
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
}
