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
            try await app.withPlatformSweep { connection in
                try await connection.query("DELETE FROM outbox", logger: TestDatabases.logger)   // this test's rows only
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
            defer { publishing.cancel() }
            try await eventually("the backlog check to be published") {
                try await checks.read().first { $0.name == OutboxBacklog.checkName }?.ok == false
            }
            publishing.cancel()
            await publishing.value
            try await app.withPlatformSweep { connection in
                try await connection.query("DELETE FROM outbox", logger: TestDatabases.logger)
            }
        }
    }
}
