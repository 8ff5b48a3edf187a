import Foundation
import Queue
import PostgresNIO
import XCTest
@testable import Store

/// The execution ledger makes a redelivered job's database effects happen once.
final class ExecutionLedgerTests: XCTestCase {
    private let logger = TestDatabases.logger

    /// The diagnostic job's effect: one row in diag_records (whose job_id is not unique).
    private static func recordDiagnostic(_ connection: PostgresConnection, jobID: String) async throws {
        try await connection.query("INSERT INTO diag_records (key, job_id) VALUES ('ledger-test', \(jobID))",
                                   logger: TestDatabases.logger)
    }

    private func diagnosticCount(_ database: Database, jobID: String) async throws -> Int64 {
        let counts = try await database.withoutTenant { connection in
            try await connection.values("SELECT count(*) FROM diag_records WHERE job_id = \(jobID)", as: Int64.self)
        }
        return counts.first ?? -1
    }

    func testSameJobDeliveredTwiceRunsItsBodyOnce() async throws {
        try await withTestDatabases { databases in
            let ledger = ExecutionLedger(database: databases.app)
            let jobID = JobID.make()
            let first = try await ledger.runOnce(jobID: jobID, kind: "diagnostics.record", tenant: nil) { connection in
                try await Self.recordDiagnostic(connection, jobID: jobID)
            }
            let second = try await ledger.runOnce(jobID: jobID, kind: "diagnostics.record", tenant: nil) { connection in
                try await Self.recordDiagnostic(connection, jobID: jobID)
            }
            XCTAssertEqual(first, .ran)
            XCTAssertEqual(second, .alreadyDone)
            let count = try await diagnosticCount(databases.app, jobID: jobID)
            XCTAssertEqual(count, 1)
            let completed = try await ledger.hasCompleted(jobID: jobID)
            XCTAssertTrue(completed)
        }
    }

    func testConcurrentDoubleDeliveryRunsItsBodyOnce() async throws {
        try await withTestDatabases { databases in
            let ledger = ExecutionLedger(database: databases.app)
            let jobID = JobID.make()
            let firstIsInside = Latch()
            let releaseFirst = Latch()
            defer { releaseFirst.open() }  // never leave the first delivery waiting
            let bodyRuns = Recorder<String>()

            async let first = ledger.runOnce(jobID: jobID, kind: "diagnostics.record", tenant: nil) { connection in
                bodyRuns.append("first")
                try await Self.recordDiagnostic(connection, jobID: jobID)
                firstIsInside.open()
                await releaseFirst.wait()  // hold the uncommitted ledger row
            }
            try await withTimeout(5, "the first delivery to start its body") { await firstIsInside.wait() }

            async let second = ledger.runOnce(jobID: jobID, kind: "diagnostics.record", tenant: nil) { connection in
                bodyRuns.append("second")
                try await Self.recordDiagnostic(connection, jobID: jobID)
            }
            // The second delivery's ledger insert must be waiting on the first's row lock.
            try await eventually("the second delivery to block on the first's ledger row") {
                try await databases.app.withoutTenant { connection in
                    try await connection.values(
                        """
                        SELECT count(*) FROM pg_stat_activity
                        WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO job_executions%'
                        """,
                        as: Int64.self
                    ) == [1]
                }
            }
            releaseFirst.open()

            let outcomes = try await [first, second]
            XCTAssertEqual(outcomes, [.ran, .alreadyDone])
            XCTAssertEqual(bodyRuns.all, ["first"])
            let count = try await diagnosticCount(databases.app, jobID: jobID)
            XCTAssertEqual(count, 1)
        }
    }

    func testFailedDeliveryLeavesNoLedgerRowSoTheRetryRuns() async throws {
        struct HandlerFailed: Error {}
        try await withTestDatabases { databases in
            let ledger = ExecutionLedger(database: databases.app)
            let jobID = JobID.make()
            let error = await thrownError {
                _ = try await ledger.runOnce(jobID: jobID, kind: "diagnostics.record", tenant: nil) { connection in
                    try await Self.recordDiagnostic(connection, jobID: jobID)
                    throw HandlerFailed()
                }
            }
            XCTAssertTrue(error is HandlerFailed, "the body's error must come back unchanged, got \(String(describing: error))")
            let retry = try await ledger.runOnce(jobID: jobID, kind: "diagnostics.record", tenant: nil) { connection in
                try await Self.recordDiagnostic(connection, jobID: jobID)
            }
            XCTAssertEqual(retry, .ran)
            let count = try await diagnosticCount(databases.app, jobID: jobID)
            XCTAssertEqual(count, 1)
        }
    }

    func testTenantJobRunsInItsTenantsScopeAndIsRecordedWithIt() async throws {
        try await withTestDatabases { databases in
            let tenant = try await TenantFixture.create(in: databases.app)
            let ledger = ExecutionLedger(database: databases.app)
            let jobID = JobID.make()
            let seen = Recorder<Int64>()
            let outcome = try await ledger.runOnce(jobID: jobID, kind: "payouts.vendor", tenant: tenant.id) { connection in
                let visible = try await connection.values("SELECT count(*) FROM vendors", as: Int64.self)
                seen.append(contentsOf: visible)
            }
            XCTAssertEqual(outcome, .ran)
            XCTAssertEqual(seen.all, [1], "the body must see exactly its tenant's vendor")
            let recorded = try await databases.app.withPlatformSweep { connection in
                try await connection.values("SELECT tenant_id FROM job_executions WHERE job_id = \(jobID)", as: UUID?.self)
            }
            XCTAssertEqual(recorded, [tenant.id])
        }
    }

    func testSweepJobRunsOnceAsThePlatformRole() async throws {
        try await withTestDatabases { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let b = try await TenantFixture.create(in: databases.app)
            let ledger = ExecutionLedger(database: databases.app)
            let jobID = JobID.make()
            let seen = Recorder<UUID>()
            for _ in 0..<2 {
                _ = try await ledger.runOnce(jobID: jobID, kind: "payouts.daily-sweep", scope: .platformSweep) { connection in
                    let tenants = try await connection.values(
                        "SELECT tenant_id FROM vendors WHERE tenant_id IN (\(a.id), \(b.id))", as: UUID.self
                    )
                    seen.append(contentsOf: tenants)
                }
            }
            XCTAssertEqual(Set(seen.all), [a.id, b.id])
            XCTAssertEqual(seen.count, 2, "the sweep's body must run once")
        }
    }
}
