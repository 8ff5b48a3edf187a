import CityOSTesting
import Foundation
import Jobs
@testable import Queue
import XCTest

/// What `cityos status`, `GET /v1/status` and the dashboard show about who takes each queue.
final class StatusTests: XCTestCase {
    func testAQueueWithJobsWaitingAndNoLiveWorkerIsShownAsStranded() async throws {
        let harness = try QueueHarness()
        // A job on a queue no process takes (a typo in `queue`, or a worker never started for it),
        // and a delayed one on another: only a worker of its queue would make it ready.
        _ = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(queue: "nobody-serves"))
        _ = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(queue: "nobody-later", delaySeconds: 3600))
        let pool = harness.makePool(queues: [("mail", 2), ("default", 1)], concurrency: 1)
        let running = Task { try await pool.run() }
        try await eventually("the pool's heartbeat registers it") {
            let status = try? await harness.status()
            return status?.processes.count == 1
        }
        let status = try await harness.status()
        let unserved = try XCTUnwrap(status.queues.first { $0.name == "nobody-serves" })
        XCTAssertEqual(unserved.workers, 0)
        XCTAssertEqual(unserved.ready, 1)
        XCTAssertTrue(unserved.isStranded)
        let later = try XCTUnwrap(status.queues.first { $0.name == "nobody-later" })
        XCTAssertEqual(later.delayed, 1)
        XCTAssertTrue(later.isStranded, "a delayed job on a queue nobody takes will never run either")
        let served = try XCTUnwrap(status.queues.first { $0.name == "mail" })
        XCTAssertEqual(served.workers, 1)
        XCTAssertFalse(served.isStranded)
        // The JSON carries it, under the name the OpenAPI document gives.
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(status)) as? [String: Any]
        let queues = json?["queues"] as? [[String: Any]] ?? []
        XCTAssertEqual(queues.first { $0["name"] as? String == "nobody-serves" }?["workers"] as? Int, 0)
        // What an enqueue warns about (`POST /v1/jobs`, `cityos enqueue`).
        let mailWorkers = try await QueueStatus.liveWorkers(taking: "mail", redis: harness.redis, namespace: harness.namespace)
        XCTAssertEqual(mailWorkers, 1)
        let none = try await QueueStatus.liveWorkers(taking: "nobody-serves", redis: harness.redis, namespace: harness.namespace)
        XCTAssertEqual(none, 0)
        pool.stop()
        _ = try await running.value
        try await harness.clean()
    }

    /// The oldest ready job's wait counts from when it became ready: a dead letter from last week,
    /// replayed now, has not waited a week (that would page someone for nothing).
    func testAReplayedOldJobHasWaitedSinceItsReplayNotSinceItWasFirstEnqueued() async throws {
        let harness = try QueueHarness()
        let weekAgo = Clock.nowMillis() - 7 * 86_400_000
        let old = JobEnvelope(kind: NoopJob.kind, queue: "default", args: .object([:]), maxAttempts: 1, enqueuedAt: weekAgo)
        _ = try await harness.client.enqueueBatch([old])
        var status = try await harness.queue("default")
        XCTAssertGreaterThan(status?.oldestReadyAgeSeconds ?? 0, 6 * 86_400, "it did wait a week in line")
        _ = try await JobCancel(redis: harness.redis, namespace: harness.namespace).cancel(queue: "default", id: old.id)
        try await harness.deadLetters.retry(queue: "default", id: old.id)
        status = try await harness.queue("default")
        XCTAssertEqual(status?.ready, 1)
        XCTAssertLessThan(status?.oldestReadyAgeSeconds ?? .infinity, 60, "ready since its replay")
        try await harness.clean()
    }

    func testCityOSEnqueueWarnsWhenNoLiveWorkerTakesTheQueueAndStoresTheJobAllTheSame() async throws {
        let harness = try QueueHarness()
        let enqueue = try ChildProcess(arguments: ["enqueue", "diag.noop", "--queue", "nobody-takes-this"],
                                       environment: try harness.childEnvironment())
        let exit = try await enqueue.waitForExit()
        XCTAssertEqual(exit, 0, enqueue.log)
        XCTAssertTrue(enqueue.log.contains("cityos: warning: no live worker process takes queue 'nobody-takes-this'"), enqueue.log)
        let queue = try await harness.queue("nobody-takes-this")
        XCTAssertEqual(queue?.ready, 1)
        try await harness.clean()
    }

    func testCityOSEnqueueRefusesQueueAndTenantNamesTheAPIRefuses() async throws {
        let harness = try QueueHarness()
        for arguments in [["--queue", "pay outs"], ["--queue", "a}b"], ["--tenant", "t}x"], ["--tenant", String(repeating: "t", count: 65)]] {
            let enqueue = try ChildProcess(arguments: ["enqueue", "diag.noop"] + arguments, environment: try harness.childEnvironment())
            let exit = try await enqueue.waitForExit()
            XCTAssertEqual(exit, 64, "\(arguments): \(enqueue.log)")
            XCTAssertTrue(enqueue.log.contains("must be 1-64 letters"), enqueue.log)
        }
        let queues = try await harness.redis.send("SMEMBERS", .string(GlobalKeys(namespace: harness.namespace).queues)).array ?? []
        XCTAssertEqual(queues.compactMap(\.string).filter { $0.contains(" ") || $0.contains("}") }, [], "nothing was stored")
        try await harness.clean()
    }

    func testProcessesAreCountedOncePerQueueTheyTake() {
        let counts = QueueStatus.processCounts(["webhooks:3,default:1", "default:1", "default:2,default:1", ""])
        XCTAssertEqual(counts, ["webhooks": 1, "default": 3])
    }
}
