import CityOSTesting
import Foundation
import Jobs
import Queue
import Redis
import XCTest

/// Guarantees 2, 5 and 8: reliable delivery, delayed jobs, fairness between tenants.
final class DeliveryTests: XCTestCase {
    func testADelayedJobDoesNotRunEarlyAndRunsWithinASecondOfDue() async throws {
        let harness = try QueueHarness()
        let receipt = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(delaySeconds: 1.5))
        let queued = try await harness.queue("default")
        XCTAssertEqual(queued?.delayed, 1)
        XCTAssertEqual(queued?.ready, 0)
        try await harness.withPool { _ in
            try await eventually("the delayed job never ran") { harness.events.succeeded(receipt.id) }
        }
        let start = try XCTUnwrap(harness.events.starts(of: receipt.id).first)
        let envelopeDue = try await dueAt(receipt.id, harness: harness, fallbackStart: start.wallMillis)
        XCTAssertGreaterThanOrEqual(start.wallMillis, envelopeDue, "ran before it was due")
        XCTAssertLessThan(start.wallMillis - envelopeDue, 1000, "ran more than a second after it was due")
        try await harness.clean()
    }

    /// The due time as the started event's envelope carried it.
    private func dueAt(_ id: String, harness: QueueHarness, fallbackStart: Int64) async throws -> Int64 {
        for entry in harness.events.all {
            if case .started(let e) = entry.event, e.id == id { return try XCTUnwrap(e.dueAt) }
        }
        return fallbackStart
    }

    func testASecondEnqueueWithTheSameIdempotencyKeyReturnsTheFirstJob() async throws {
        let harness = try QueueHarness()
        let first = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(idempotencyKey: "order-42"))
        let second = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(idempotencyKey: "order-42"))
        XCTAssertTrue(first.created)
        XCTAssertFalse(second.created)
        XCTAssertEqual(first.id, second.id)
        let awaited10 = try await harness.queue("default")?.ready
        XCTAssertEqual(awaited10, 1)
        let fixed = JobID.derived(from: "schedule:tick:1")
        let a = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(jobID: fixed))
        let b = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(jobID: fixed))
        XCTAssertEqual([a.created, b.created], [true, false])
        let awaited11 = try await harness.queue("default")?.ready
        XCTAssertEqual(awaited11, 2)
        try await harness.clean()
    }

    func testEnqueueRejectsUnknownKindsAndArgumentsThatDoNotDecode() async throws {
        let harness = try QueueHarness()
        do {
            _ = try await harness.client.enqueue(kind: "no.such", args: .object([:]))
            XCTFail("unknown kind must be rejected")
        } catch let failure as JobFailure {
            XCTAssertEqual(failure, .unknownKind("no.such"))
        }
        do {
            _ = try await harness.client.enqueue(kind: "diag.sleep", args: .object(["ms": .string("x")]))
            XCTFail("bad arguments must be rejected")
        } catch let failure as JobFailure {
            guard case .badArguments(let why) = failure else { return XCTFail("\(failure)") }
            XCTAssertTrue(why.contains("args.ms"), why)
        }
        let awaited12 = try await harness.queue("default")
        XCTAssertNil(awaited12, "nothing was stored")
        try await harness.clean()
    }

    func testASmallTenantIsNotStarvedByAFloodingTenant() async throws {
        let harness = try QueueHarness()
        let client = harness.client
        for _ in 0..<10 {
            let flood = (0..<1000).map { _ in client.makeEnvelope(kind: NoopJob.kind, args: .object([:]), options: .init(tenant: "big")) }
            _ = try await client.enqueueBatch(flood)
        }
        let small = (0..<10).map { _ in client.makeEnvelope(kind: NoopJob.kind, args: .object([:]), options: .init(tenant: "small")) }
        _ = try await client.enqueueBatch(small)
        let smallIDs = Set(small.map(\.id))

        try await harness.withPool(concurrency: 8) { _ in
            try await eventually("the small tenant's jobs did not all run") {
                smallIDs.isSubset(of: Set(harness.events.succeededIDs))
            }
        }
        let order = harness.events.succeededIDs
        let lastSmall = try XCTUnwrap(order.lastIndex { smallIDs.contains($0) })
        XCTAssertLessThan(lastSmall, 100, "the 10 jobs of the small tenant must not wait behind the 10,000 of the big one")
        try await harness.clean()
    }

    func testWeightedQueuesAreAllServed() async throws {
        let harness = try QueueHarness()
        let a = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(queue: "high"))
        let b = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(queue: "low"))
        try await harness.withPool(queues: [("high", 3), ("low", 1)]) { _ in
            try await eventually("both queues' jobs run") { harness.events.succeeded(a.id) && harness.events.succeeded(b.id) }
        }
        try await harness.clean()
    }
}
