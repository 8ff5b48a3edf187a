import CityOSTesting
import Foundation
import Queue
import Synchronization
import XCTest
@testable import Store

/// The relay's state where operators look: the `outbox.relay` check, failing while batches fail.
final class OutboxRelayHealthTests: XCTestCase {
    struct RedisWentAway: Error, CustomStringConvertible { var description: String { "Redis went away" } }

    /// Runs `body` while a relay with `sink` and its health publisher run, over an outbox holding
    /// `rows` rows of this test's (and nothing else). `body` gets the databases, the checks and a
    /// reader of the relay's check.
    private func withRelay(rows: Int, refresh: Duration = .seconds(60), sink: @escaping OutboxRelay.Sink,
                           _ body: (TestDatabases, StatusChecks, () async throws -> StatusCheck?) async throws -> Void) async throws {
        try await withTestDatabases { databases in
            try await databases.app.withPlatformSweep { connection in
                try await connection.query("DELETE FROM outbox", logger: TestDatabases.logger)   // this test's rows only
            }
            let checks = StatusChecks(redis: try TestEnvironment.redis(), namespace: TestEnvironment.uniqueNamespace("outbox-health"))
            let health = OutboxRelayHealth(checks: checks, refresh: refresh)
            let relay = OutboxRelay(database: databases.app, pollInterval: .milliseconds(50), onEvent: health.note, sink: sink)
            for _ in 0..<rows {
                try await databases.app.withoutTenant { connection in
                    try await Outbox.enqueue(on: connection, job: OutboxJob(kind: "diag.noop", queue: "default", tenant: nil, argsJSON: "{}"))
                }
            }
            func check() async throws -> StatusCheck? { try await checks.read().first { $0.name == OutboxRelayHealth.checkName } }
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await health.run() }
                group.addTask { await relay.run() }
                defer { group.cancelAll() }
                try await body(databases, checks, check)
            }
        }
    }

    func testTheRelayIsAFailingCheckWhileItsBatchesFailAndOkOnceOneGoesThrough() async throws {
        let refusing = Mutex(true)
        try await withRelay(rows: 1, sink: { _ in if refusing.withLock({ $0 }) { throw RedisWentAway() } }) { databases, _, check in
            try await eventually("the check to say the relay fails") { try await check()?.ok == false }
            let failing = try await check()
            XCTAssertEqual(failing?.samples, ["Redis went away"], "the error, for an operator")
            refusing.withLock { $0 = false }
            try await eventually("the check to say the relay is ok again") { try await check()?.ok == true }
            let waiting = try await databases.app.withPlatformSweep { connection in
                try await connection.values("SELECT job_id FROM outbox", as: String.self)
            }
            XCTAssertEqual(waiting, [], "relayed once Redis took it")
        }
    }

    /// A relay whose failing rows another process relayed meanwhile sees only an empty outbox from
    /// then on: a batch that finds nothing went through all the same, and the check says ok (it
    /// said failing, with an old error, until this process relayed a row of its own).
    func testAnEmptyOutboxsBatchTurnsTheCheckOk() async throws {
        // This process's Redis refuses every batch.
        try await withRelay(rows: 1, sink: { _ in throw RedisWentAway() }) { databases, _, check in
            try await eventually("the check to say the relay fails") { try await check()?.ok == false }
            // Another process relays the row.
            try await databases.app.withPlatformSweep { connection in
                try await connection.query("DELETE FROM outbox", logger: TestDatabases.logger)
            }
            try await eventually("the check to say the relay is ok again") { try await check()?.ok == true }
        }
    }

    /// Another relay's "failing" stands while it is younger than two refreshes (that relay fails
    /// still, and says so each refresh); once older (its process died failing), a live relay's
    /// "ok" replaces it. The check can go stale where nothing refreshes it.
    func testAnotherRelaysFailingStandsWhileFreshAndALiveRelayReplacesItOnceOld() async throws {
        let refresh = Duration.milliseconds(300)
        try await withRelay(rows: 0, refresh: refresh, sink: { _ in }) { _, checks, check in
            try await eventually("the check to say the relay is ok") { try await check()?.ok == true }
            let ok = try await check()
            XCTAssertEqual(ok?.staleAfterSeconds, OutboxRelayHealth.staleAfterSeconds)
            let failedAt = Clock.nowMillis()
            try await checks.publish(StatusCheck(name: OutboxRelayHealth.checkName, invariants: ["failing_batches": 1],
                                                 samples: ["Redis went away"], checkedAt: failedAt, jobID: "outbox-relay"))
            try await eventually("the live relay's refresh to say ok once the other's failing is old") {
                guard let current = try await check(), current.ok else { return false }
                XCTAssertGreaterThanOrEqual(current.checkedAt - failedAt, 2 * 300, "ok replaced a failing younger than two refreshes")
                return true
            }
        }
    }
}
