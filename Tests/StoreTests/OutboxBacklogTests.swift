import CityOSTesting
import Foundation
import Queue
import XCTest
@testable import Store

/// The outbox's backlog where operators look: the `outbox.backlog` check, failing while rows wait
/// longer than a relay would leave them.
final class OutboxBacklogTests: XCTestCase {
    func testRowsWaitingOverAMinuteAreAFailingCheckNamingThem() async throws {
        try await withTestDatabases { databases in
            let app = databases.app
            // An empty outbox to start from (tests run one at a time, and no relay runs in this one).
            try await app.withPlatformSweep { connection in
                try await connection.query("DELETE FROM outbox", logger: TestDatabases.logger)
            }
            let empty = try await OutboxBacklog.read(app)
            XCTAssertEqual(empty, OutboxBacklog(waiting: 0, stuck: 0, oldestSeconds: nil, stuckSamples: []))
            XCTAssertTrue(empty.check().ok)

            // No relay runs in this test: one row just committed, then one from three minutes ago.
            let fresh = OutboxJob(jobID: "backlog-new", kind: "diag.noop", queue: "default", tenant: nil, argsJSON: "{}")
            try await app.withoutTenant { connection in
                try await Outbox.enqueue(on: connection, job: fresh)
            }
            let onItsWay = try await OutboxBacklog.read(app)
            XCTAssertEqual(onItsWay.waiting, 1)
            XCTAssertEqual(onItsWay.stuck, 0, "just committed: on its way")
            XCTAssertTrue(onItsWay.check().ok)
            try await app.withoutTenant { connection in
                try await connection.query("""
                    INSERT INTO outbox (job_id, kind, queue, args, created_at)
                    VALUES ('backlog-old', 'payouts.vendor', 'payouts', '{}', now() - interval '3 minutes')
                    """, logger: TestDatabases.logger)
            }
            let stuck = try await OutboxBacklog.read(app)
            XCTAssertEqual(stuck.waiting, 2)
            XCTAssertEqual(stuck.stuck, 1)
            XCTAssertGreaterThanOrEqual(stuck.oldestSeconds ?? 0, 179)
            XCTAssertEqual(stuck.stuckSamples, ["backlog-old (payouts.vendor → payouts)"])
            let check = stuck.check()
            XCTAssertFalse(check.ok)
            XCTAssertEqual(check.invariants, ["rows_waiting_over_60s": 1])
            XCTAssertTrue(check.samples.first?.contains("2 jobs wait in the outbox, 1 of them for over 60 s") == true,
                          "\(check.samples)")

            // Published where the status reads it, by the loop every working process runs.
            let checks = StatusChecks(redis: try TestEnvironment.redis(), namespace: TestEnvironment.uniqueNamespace("backlog"))
            let publishing = Task { await OutboxBacklog.publish(database: app, checks: checks) }
            var failure: (any Error)?
            do {
                try await eventually("the backlog check to be published") {
                    try await checks.read().first { $0.name == OutboxBacklog.checkName }?.ok == false
                }
            } catch {
                failure = error
            }
            publishing.cancel()
            await publishing.value
            try await app.withPlatformSweep { connection in   // whatever happened above: no row left for a later test
                try await connection.query("DELETE FROM outbox", logger: TestDatabases.logger)
            }
            if let failure { throw failure }
        }
    }

    /// A check nothing publishes any more (no working process runs) must not read as all well:
    /// past its `stale_after_seconds` it reads as failing, `not_published`, for every reader.
    func testABacklogCheckNobodyRefreshesReadsAsFailing() async throws {
        let empty = OutboxBacklog(waiting: 0, stuck: 0, oldestSeconds: nil, stuckSamples: [])
        let now = Clock.nowMillis()
        XCTAssertTrue(empty.check(checkedAt: now - 50_000).read(at: now).ok, "50 s old: still current")
        let stale = empty.check(checkedAt: now - 70_000).read(at: now)
        XCTAssertFalse(stale.ok)
        XCTAssertEqual(stale.invariants, [OutboxBacklog.stuckInvariant: 0, StatusCheck.notPublished: 1])
        XCTAssertEqual(stale.mismatches, 1)
        XCTAssertTrue(stale.samples.first?.hasPrefix("not published for 70 s (expected within 60 s)") == true, "\(stale.samples)")

        let checks = StatusChecks(redis: try TestEnvironment.redis(), namespace: TestEnvironment.uniqueNamespace("stale"))
        try await checks.publish(empty.check(checkedAt: now - 70_000))
        let read = try await checks.read().first { $0.name == OutboxBacklog.checkName }
        XCTAssertEqual(read?.ok, false, "as the status, the dashboard and /metrics read it")
        XCTAssertEqual(read?.invariants[StatusCheck.notPublished], 1)
    }
}
