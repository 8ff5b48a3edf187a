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
        pool.stop()
        _ = try await running.value
        try await harness.clean()
    }

    func testProcessesAreCountedOncePerQueueTheyTake() {
        func process(_ queues: String) -> QueueStatus.Process {
            QueueStatus.Process(id: queues, host: "h", pid: 1, queues: queues, concurrency: 1, busy: 0, startedAt: 0,
                                lastBeatAgeSeconds: 0)
        }
        let counts = QueueStatus.processCounts([process("webhooks:3,default:1"), process("default:1"), process("")])
        XCTAssertEqual(counts, ["webhooks": 1, "default": 2])
    }
}
