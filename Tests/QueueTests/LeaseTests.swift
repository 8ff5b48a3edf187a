import CityOSTesting
import Foundation
import Jobs
@testable import Queue
import Redis
import XCTest

/// Each fetch has a lease, kept with the job in the process's in-flight hash, and an outcome is
/// written only under the lease of the fetch its run came from. A job put back in line while this
/// process ran it (taken for dead) and fetched again by the same process has a new lease: an
/// outcome of the earlier run that reaches Redis only now (sent before the second fetch, or an ack
/// batch tried again after a failure) changes nothing, whichever of the four outcomes it is.
final class LeaseTests: XCTestCase {
    private let process = "p-lease"

    private func fetch(_ harness: QueueHarness, lease: UInt64) async throws -> [String] {
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let reply = try await harness.redis.run(
            QueueScripts.fetch,
            keys: [.string(keys.ring), .string(keys.jobs), .string(keys.inflight(process)), .string(keys.wake),
                   .string(keys.paused)],
            arguments: [.string(keys.prefix), .int(10), Lease(lease).argument])
        let items = reply.array ?? []
        return stride(from: 0, to: items.count - 1, by: 2).compactMap { items[$0].string }
    }

    private func held(_ harness: QueueHarness, _ id: String) async throws -> String? {
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        return try await harness.redis.send("HGET", .string(keys.inflight(process)), .string(id)).string
    }

    private func ack(_ harness: QueueHarness, _ id: String, lease: UInt64) async throws -> Int? {
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        return try await harness.redis.run(
            QueueScripts.ack,
            keys: [.string(keys.inflight(process)), .string(keys.jobs), .string(keys.stats), .string(keys.throughput)],
            arguments: [.int(1), .string(id), Lease(lease).argument]).int
    }

    private func envelope(_ harness: QueueHarness, _ id: String) async throws -> JobEnvelope {
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let stored = try await harness.redis.send("HGET", .string(keys.jobs), .string(id)).bytes
        return try JobEnvelope.decode(try XCTUnwrap(stored))
    }

    /// Returns `ids` (none: every job) of the process's in-flight hash to their queue.
    private func requeue(_ harness: QueueHarness, _ ids: [String] = []) async throws -> Int? {
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        return try await harness.redis.run(QueueScripts.requeue, keys: OutcomeRecorder.requeueKeys(keys, process: process),
                                           arguments: [.string(keys.prefix)] + ids.map { .string($0) }).int
    }

    private func list(_ harness: QueueHarness, _ key: String) async throws -> [String] {
        try await harness.redis.send("LRANGE", .string(key), "0", "-1").array?.compactMap(\.string) ?? []
    }

    func testAnOutcomeOfAnEarlierFetchChangesNothingOnceTheJobIsFetchedAgain() async throws {
        let harness = try QueueHarness()
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let id = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(tenant: "acme")).id
        let first = try await fetch(harness, lease: 1)
        XCTAssertEqual(first, [id])
        let firstHeld = try await held(harness, id)
        XCTAssertEqual(firstHeld, "acme:1", "the entry keeps the tenant and the fetch's lease")

        // Put back in line as another process's recovery does when this one is taken for dead: to
        // its tenant's list, not to one named after the lease.
        let recovery = CrashRecovery(redis: harness.redis, crashLimit: 3, deadLetterCap: 100, logger: TestEnvironment.logger)
        let processKey = GlobalKeys(namespace: harness.namespace).process(process)
        let recovered = try await recovery.recover(process: process, processKey: processKey, keys: keys, runningSuspect: nil)
        XCTAssertEqual(recovered.requeued, 1)
        let line = try await list(harness, keys.tenantList("acme"))
        XCTAssertEqual(line, [id])
        let ring = try await list(harness, keys.ring)
        XCTAssertEqual(ring, ["acme"])

        let second = try await fetch(harness, lease: 2)
        XCTAssertEqual(second, [id], "the same process fetches the job again")

        // The earlier run's outcomes, each under lease 1.
        let stale = try await envelope(harness, id)
        let acked = try await ack(harness, id, lease: 1)
        XCTAssertEqual(acked, 0, "an ack of the earlier run acknowledges nothing")
        let retried = try await harness.redis.run(
            QueueScripts.retry,
            keys: [.string(keys.inflight(process)), .string(keys.jobs), .string(keys.schedule), .string(keys.stats)],
            arguments: [.string(id), .raw(try stale.encoded()), .int64(Clock.nowMillis()), Lease(1).argument]).int
        XCTAssertEqual(retried, 0, "a retry of the earlier run schedules nothing")
        let buried = try await harness.redis.run(
            QueueScripts.bury,
            keys: [.string(keys.inflight(process)), .string(keys.jobs), .string(keys.dead), .string(keys.deadJobs),
                   .string(keys.stats)],
            arguments: [.string(id), .raw(try stale.encoded()), .int64(Clock.nowMillis()), .int(100), Lease(1).argument]).int
        XCTAssertEqual(buried, 0, "a dead letter of the earlier run buries nothing")
        let putBack = try await harness.redis.run(
            QueueScripts.putBack, keys: [.string(keys.inflight(process)), .string(keys.schedule)],
            arguments: [.string(id), .int64(Clock.nowMillis()), Lease(1).argument]).int
        XCTAssertEqual(putBack, 0, "a put-back of the earlier run moves nothing")

        let stillHeld = try await held(harness, id)
        XCTAssertEqual(stillHeld, "acme:2", "the new run still holds the job")
        let stored = try await harness.redis.send("HEXISTS", .string(keys.jobs), .string(id)).int
        XCTAssertEqual(stored, 1, "its envelope is still stored")
        let scheduled = try await harness.redis.send("ZCARD", .string(keys.schedule)).int
        XCTAssertEqual(scheduled, 0)
        let dead = try await harness.redis.send("ZCARD", .string(keys.dead)).int
        XCTAssertEqual(dead, 0)

        // One ack batch with the earlier run's ack and a current one of another job: only the latter.
        let other = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(tenant: "acme")).id
        let third = try await fetch(harness, lease: 3)
        XCTAssertEqual(third, [other])
        let batch = try await harness.redis.run(
            QueueScripts.ack,
            keys: [.string(keys.inflight(process)), .string(keys.jobs), .string(keys.stats), .string(keys.throughput)],
            arguments: [.int(1), .string(id), Lease(1).argument, .string(other), Lease(3).argument]).int
        XCTAssertEqual(batch, 1, "the batch acknowledges the current run's job only")
        let otherHeld = try await held(harness, other)
        XCTAssertNil(otherHeld)
        let afterBatch = try await held(harness, id)
        XCTAssertEqual(afterBatch, "acme:2")

        let newAck = try await ack(harness, id, lease: 2)
        XCTAssertEqual(newAck, 1, "the new run's ack is written")
        let gone = try await harness.redis.send("HEXISTS", .string(keys.jobs), .string(id)).int
        XCTAssertEqual(gone, 0)
        let leftInFlight = try await held(harness, id)
        XCTAssertNil(leftInFlight)
        try await harness.clean()
    }

    /// Returned to its queue (a stray, or at shutdown), a job goes back to its tenant's list.
    func testAJobReturnedToItsQueueGoesBackToItsTenantsLine() async throws {
        let harness = try QueueHarness()
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let a = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(tenant: "acme")).id
        let b = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(tenant: "globex")).id
        let taken = try await fetch(harness, lease: 7)
        XCTAssertEqual(Set(taken), [a, b])
        let byID = try await requeue(harness, [a])
        XCTAssertEqual(byID, 1)
        let all = try await requeue(harness)
        XCTAssertEqual(all, 1)
        let acme = try await list(harness, keys.tenantList("acme"))
        let globex = try await list(harness, keys.tenantList("globex"))
        XCTAssertEqual(acme, [a])
        XCTAssertEqual(globex, [b])
        let ring = try await list(harness, keys.ring)
        XCTAssertEqual(Set(ring), ["acme", "globex"])
        try await harness.clean()
    }

    /// An in-flight entry an earlier build wrote (the tenant alone, during a rolling deploy) is
    /// acknowledged as before, and read for its tenant.
    func testAnEntryWithoutALeaseIsAcknowledgedAndReadAsItsTenant() async throws {
        let harness = try QueueHarness()
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let id = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(tenant: "acme")).id
        let other = try await harness.client.enqueue(NoopJob.self, .init(), options: .init(tenant: "globex")).id
        _ = try await fetch(harness, lease: 3)
        try await harness.redis.send("HSET", .string(keys.inflight(process)), .string(id), "acme", .string(other), "globex")
        let acked = try await ack(harness, id, lease: 9)
        XCTAssertEqual(acked, 1)
        let returned = try await requeue(harness)
        XCTAssertEqual(returned, 1)
        let line = try await list(harness, keys.tenantList("globex"))
        XCTAssertEqual(line, [other], "returned to its tenant's line")
        try await harness.clean()

        XCTAssertEqual(Lease.tenant(of: "acme:12"), "acme")
        XCTAssertEqual(Lease.tenant(of: "acme"), "acme")
        XCTAssertEqual(Lease.tenant(of: "_:1"), "_")
        XCTAssertEqual(Lease.tenant(of: "acme:"), "acme:")
        XCTAssertEqual(Lease.tenant(of: "acme:1x"), "acme:1x")
    }

    /// The recorder: a failed attempt of a run whose job this process now holds under another
    /// lease is not written (nor tried again); under its own lease it is.
    func testTheRecorderWritesAFailedAttemptOnlyUnderItsRunsLease() async throws {
        let harness = try QueueHarness()
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let id = try await harness.client.enqueue(NoopJob.self, .init()).id
        _ = try await fetch(harness, lease: 5)
        let recorder = OutcomeRecorder(redis: harness.redis, processID: process, namespace: harness.namespace,
                                       deadLetterCap: 10, metrics: WorkerMetrics(), logger: TestEnvironment.logger)
        let envelope = try await envelope(harness, id)
        let stale = await recorder.retry(envelope, dueMillis: Clock.nowMillis(), lease: Lease(4), logger: TestEnvironment.logger)
        XCTAssertFalse(stale)
        let scheduledBefore = try await harness.redis.send("ZCARD", .string(keys.schedule)).int
        XCTAssertEqual(scheduledBefore, 0)
        let own = await recorder.retry(envelope, dueMillis: Clock.nowMillis(), lease: Lease(5), logger: TestEnvironment.logger)
        XCTAssertTrue(own)
        let scheduled = try await harness.redis.send("ZRANGE", .string(keys.schedule), "0", "-1").array?.compactMap(\.string)
        XCTAssertEqual(scheduled, [id])
        XCTAssertFalse(recorder.held.contains(id), "nothing left to write")
        try await harness.clean()
    }
}
