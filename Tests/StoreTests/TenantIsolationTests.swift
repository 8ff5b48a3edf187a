import Foundation
import PostgresNIO
import Queue
import XCTest
@testable import Store

/// Row-level security: a tenant's transaction sees and writes only that tenant's rows.
final class TenantIsolationTests: XCTestCase {
    private let logger = TestDatabases.logger

    func testTenantCannotReadAnotherTenantsRows() async throws {
        try await withTestDatabases { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let b = try await TenantFixture.create(in: databases.app)
            try await databases.app.withTenant(a.id) { connection in
                let tenants = try await connection.values("SELECT id FROM tenants", as: UUID.self)
                let stores = try await connection.values("SELECT tenant_id FROM stores", as: UUID.self)
                let vendors = try await connection.values(
                    "SELECT tenant_id FROM vendors WHERE id = \(b.vendorID) OR id = \(a.vendorID)", as: UUID.self
                )
                XCTAssertEqual(tenants, [a.id])
                XCTAssertEqual(Set(stores), [a.id])
                XCTAssertEqual(vendors, [a.id], "tenant B's vendor must be invisible to tenant A")
            }
        }
    }

    func testTenantCannotUpdateOrDeleteAnotherTenantsRows() async throws {
        try await withTestDatabases { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let b = try await TenantFixture.create(in: databases.app)
            try await databases.app.withTenant(a.id) { connection in
                let updated = try await connection.affectedRows(
                    "UPDATE vendors SET minimum_payout_amount = 1 WHERE tenant_id = \(b.id)"
                )
                let updatedTenant = try await connection.affectedRows("UPDATE tenants SET name = 'x' WHERE id = \(b.id)")
                let deleted = try await connection.affectedRows("DELETE FROM vendors WHERE id = \(b.vendorID)")
                XCTAssertEqual([updated, updatedTenant, deleted], [0, 0, 0])
            }
            let amount = try await databases.app.withTenant(b.id) { connection in
                try await connection.values(
                    "SELECT minimum_payout_amount FROM vendors WHERE id = \(b.vendorID)", as: Int64.self
                )
            }
            XCTAssertEqual(amount, [5000], "tenant B's vendor must be untouched")
        }
    }

    func testInsertWithAnotherTenantsIDIsRejected() async throws {
        try await withTestDatabases { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let b = try await TenantFixture.create(in: databases.app)
            let error = await thrownError {
                try await databases.app.withTenant(a.id) { connection in
                    _ = try await connection.query(
                        """
                        INSERT INTO stores (tenant_id, id, slug, name, default_currency)
                        VALUES (\(b.id), \(UUID()), 'intruder', 'Intruder', 'EUR')
                        """,
                        logger: self.logger
                    )
                }
            }
            XCTAssertEqual(error.map { PostgresServerMessage($0).sqlState }, "42501",
                           "expected a row-level security violation, got \(String(describing: error))")
        }
    }

    /// Every table holding a `tenant_id` has row-level security enabled and forced (its owner
    /// is held to it too) and a policy for the application role: a table added without them
    /// would be readable by every tenant, as audit_log was until 0017.
    func testEveryTableWithATenantIDIsUnderForcedRowLevelSecurity() async throws {
        try await withTestDatabases { databases in
            let tables = try await databases.admin.withoutTenant { connection in
                let rows = try await connection.query("""
                    SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                           EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname
                                   AND 'cityos_app' = ANY(p.roles))
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
                    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                    """, logger: self.logger)
                var found: [(String, Bool, Bool, Bool)] = []
                for try await row in rows.decode((String, Bool, Bool, Bool).self) { found.append(row) }
                return found
            }
            XCTAssertGreaterThan(tables.count, 10, "the tenant tables were found")
            let open = tables.filter { !($0.1 && $0.2 && $0.3) }.map(\.0).sorted()
            XCTAssertEqual(open, [], "tables with tenant_id lacking ENABLE, FORCE or a cityos_app policy")
        }
    }

    /// The audit log: a tenant reads its own entries only, and cannot write one in another's name.
    func testATenantNeitherReadsNorWritesAnotherTenantsAuditEntries() async throws {
        try await withTestDatabases { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let b = try await TenantFixture.create(in: databases.app)
            let target = "test-\(UUID().uuidString)"
            for tenant in [a.id, b.id] {
                try await databases.app.withTenant(tenant) { connection in
                    _ = try await connection.query("""
                        INSERT INTO audit_log (actor, action, target, tenant_id) VALUES ('test', 'replay', \(target), \(tenant))
                        """, logger: self.logger)
                }
            }
            let seen = try await databases.app.withTenant(a.id) { connection in
                try await connection.values("SELECT tenant_id FROM audit_log WHERE target = \(target)", as: UUID.self)
            }
            XCTAssertEqual(seen, [a.id], "tenant B's audit entry must be invisible to tenant A")
            let forged = await thrownError {
                try await databases.app.withTenant(a.id) { connection in
                    _ = try await connection.query("""
                        INSERT INTO audit_log (actor, action, target, tenant_id) VALUES ('test', 'forged', \(target), \(b.id))
                        """, logger: self.logger)
                }
            }
            XCTAssertEqual(forged.map { PostgresServerMessage($0).sqlState }, "42501")
        }
    }

    /// The execution ledger is isolated too: a tenant neither reads another's job history nor
    /// claims another tenant's job id ahead of it (which would make that job skip as "already
    /// done"); a claim of an id another scope holds still conflicts, so the id runs once.
    func testATenantNeitherReadsNorClaimsAnotherTenantsLedgerRows() async throws {
        try await withTestDatabases { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let b = try await TenantFixture.create(in: databases.app)
            let ledger = ExecutionLedger(database: databases.app)
            let bJob = "b-job-" + UUID().uuidString
            let platformJob = "platform-job-" + UUID().uuidString
            try await ledger.runOnce(jobID: bJob, kind: "payouts.vendor", tenant: b.id) { _ in }
            try await ledger.runOnce(jobID: platformJob, kind: "payouts.run", tenant: nil) { _ in }
            let seenByA = try await databases.app.withTenant(a.id) { connection in
                try await connection.values("SELECT count(*) FROM job_executions WHERE job_id IN (\(bJob), \(platformJob))", as: Int64.self)
            }
            XCTAssertEqual(seenByA, [0], "tenant A sees neither B's nor the platform's ledger rows")

            let future = "b-future-" + UUID().uuidString
            let error = await thrownError {
                try await databases.app.withTenant(a.id) { connection in
                    _ = try await connection.query(
                        "INSERT INTO job_executions (job_id, kind, tenant_id) VALUES (\(future), 'billing.invoice', \(b.id))",
                        logger: self.logger)
                }
            }
            XCTAssertEqual(error.map { PostgresServerMessage($0).sqlState }, "42501",
                           "expected a row-level security violation, got \(String(describing: error))")
            let forged = await thrownError {
                try await databases.app.withTenant(a.id) { connection in
                    _ = try await connection.query(
                        "INSERT INTO job_executions (job_id, kind, tenant_id) VALUES (\(future), 'payouts.run', NULL)",
                        logger: self.logger)
                }
            }
            XCTAssertEqual(forged.map { PostgresServerMessage($0).sqlState }, "42501", "nor a platform job's row")
            let bRuns = try await ledger.runOnce(jobID: future, kind: "billing.invoice", tenant: b.id) { _ in }
            XCTAssertEqual(bRuns, .ran, "B's job was not claimed ahead of it")

            // A claims, in its own name, an id B's job will use: B's job is not skipped as "already
            // done" in silence, it fails for good, saying so (a dead letter an operator sees).
            let guessed = "b-guessed-" + UUID().uuidString
            try await databases.app.withTenant(a.id) { connection in
                _ = try await connection.query(
                    "INSERT INTO job_executions (job_id, kind, tenant_id) VALUES (\(guessed), 'billing.invoice', \(a.id))",
                    logger: self.logger)
            }
            let refused = await thrownError {
                try await ledger.runOnce(jobID: guessed, kind: "billing.invoice", tenant: b.id) { _ in
                    XCTFail("B's job ran under an id A holds")
                }
            }
            XCTAssertTrue((refused as? JobFailure)?.isPermanent == true, "\(String(describing: refused))")
            XCTAssertTrue("\(String(describing: refused))".contains("another scope's execution ledger"), "\(String(describing: refused))")
            // A platform sweep sees every tenant's rows: B's row under an id must not pass for the
            // sweep's having run either. Its own redelivery is already done.
            let sweepRefused = await thrownError {
                try await ledger.runOnce(jobID: bJob, kind: "payouts.run", scope: .platformSweep) { _ in
                    XCTFail("a sweep ran under an id B holds")
                }
            }
            XCTAssertTrue((sweepRefused as? JobFailure)?.isPermanent == true, "\(String(describing: sweepRefused))")
            let sweepJob = "sweep-" + UUID().uuidString
            let sweeps = [try await ledger.runOnce(jobID: sweepJob, kind: "payouts.run", scope: .platformSweep) { _ in },
                          try await ledger.runOnce(jobID: sweepJob, kind: "payouts.run", scope: .platformSweep) { _ in }]
            XCTAssertEqual(sweeps, [.ran, .alreadyDone])
            // The one-statement path (`insertOnce`) says the same, and writes nothing.
            let insert = ExecutionLedger.Insert(into: "diag_records", columns: ["key", "job_id"], values: [guessed, guessed])
            let refusedInsert = await thrownError { _ = try await ledger.insertOnce(jobID: guessed, kind: "diag.record", tenant: b.id, insert) }
            XCTAssertTrue((refusedInsert as? JobFailure)?.isPermanent == true, "\(String(describing: refusedInsert))")
            let ownInsert = "b-insert-" + UUID().uuidString
            let ownValues = ExecutionLedger.Insert(into: "diag_records", columns: ["key", "job_id"], values: [ownInsert, ownInsert])
            let first = try await ledger.insertOnce(jobID: ownInsert, kind: "diag.record", tenant: b.id, ownValues)
            let second = try await ledger.insertOnce(jobID: ownInsert, kind: "diag.record", tenant: b.id, ownValues)
            XCTAssertEqual([first, second], [.ran, .alreadyDone], "B's own redelivery through insertOnce is already done")
            let written = try await databases.app.withoutTenant { connection in
                try await connection.values("SELECT count(*) FROM diag_records WHERE key IN (\(guessed), \(ownInsert))", as: Int64.self)
            }
            XCTAssertEqual(written, [1], "one row: B's own, once; none for the id A holds")
            let again = try await ledger.runOnce(jobID: bJob, kind: "payouts.vendor", tenant: b.id) { _ in
                XCTFail("a job that committed ran again")
            }
            XCTAssertEqual(again, .alreadyDone, "B's own redelivery is still already done")
        }
    }

    func testMovingARowToAnotherTenantIsRejected() async throws {
        try await withTestDatabases { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let b = try await TenantFixture.create(in: databases.app)
            let error = await thrownError {
                try await databases.app.withTenant(a.id) { connection in
                    _ = try await connection.query("UPDATE stores SET tenant_id = \(b.id) WHERE id = \(a.storeID)",
                                               logger: self.logger)
                }
            }
            XCTAssertEqual(error.map { PostgresServerMessage($0).sqlState }, "42501")
        }
    }

    func testTransactionWithoutTenantSeesNoTenantRows() async throws {
        try await withTestDatabases { databases in
            _ = try await TenantFixture.create(in: databases.app)
            try await databases.app.withoutTenant { connection in
                for table in ["tenants", "stores", "vendors"] {
                    let count = try await connection.values("SELECT count(*) FROM \(unescaped: table)", as: Int64.self)
                    XCTAssertEqual(count, [0], "\(table) must show no rows without a tenant")
                }
            }
            let inserted = await thrownError {
                try await databases.app.withoutTenant { connection in
                    _ = try await connection.query(
                        "INSERT INTO tenants (id, slug, name) VALUES (\(UUID()), 'nobody', 'x')", logger: self.logger
                    )
                }
            }
            XCTAssertEqual(inserted.map { PostgresServerMessage($0).sqlState }, "42501")
        }
    }

    /// The platform's rows (tenant_id NULL) of the webhook inbox belong to no tenant, though their
    /// payload may be one tenant's: a tenant's transaction neither reads nor updates them (0008);
    /// only a transaction with no tenant set does.
    func testTenantCannotReadOrUpdateThePlatformsInboxRows() async throws {
        try await withTestDatabases { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let eventID = "evt_platform_\(UUID().uuidString)"
            try await databases.app.withoutTenant { connection in
                // An event naming its tenant by slug: stored as a platform row, yet one tenant's data.
                _ = try await connection.query("""
                    INSERT INTO webhook_inbox (source, external_id, type, payload, status)
                    VALUES ('stripe', \(eventID), 'customer.updated', '{"tenant_id": "acme"}', 'processed')
                    """, logger: self.logger)
            }
            let (seen, updated) = try await databases.app.withTenant(a.id) { connection in
                let seen = try await connection.values(
                    "SELECT count(*) FROM webhook_inbox WHERE external_id = \(eventID)", as: Int64.self)
                let updated = try await connection.affectedRows(
                    "UPDATE webhook_inbox SET attempts = 9, tenant_id = \(a.id) WHERE external_id = \(eventID)")
                return (seen, updated)
            }
            XCTAssertEqual(seen, [0], "a tenant must not read the platform's inbox rows")
            XCTAssertEqual(updated, 0, "a tenant must not update (or take over) the platform's inbox rows")

            let (attempts, deleted) = try await databases.app.withoutTenant { connection in
                let attempts = try await connection.values(
                    "SELECT attempts FROM webhook_inbox WHERE external_id = \(eventID) AND tenant_id IS NULL", as: Int32.self)
                let deleted = try await connection.affectedRows("DELETE FROM webhook_inbox WHERE external_id = \(eventID)")
                return (attempts, deleted)
            }
            XCTAssertEqual(attempts, [0], "the scope without a tenant sees the row, untouched and still the platform's")
            XCTAssertEqual(deleted, 1)
        }
    }

    func testTenantSettingDoesNotOutliveItsTransaction() async throws {
        // One connection in the pool: the next transaction gets the same session.
        try await withTestDatabases(appConnections: 1) { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let seenAsA = try await databases.app.withTenant(a.id) { connection in
                try await connection.values("SELECT count(*) FROM stores", as: Int64.self)
            }
            let seenAfter = try await databases.app.withoutTenant { connection in
                try await connection.values("SELECT count(*) FROM stores", as: Int64.self)
            }
            XCTAssertEqual(seenAsA, [1])
            XCTAssertEqual(seenAfter, [0])
        }
    }

    func testPlatformSweepReadsEveryTenantAndWritesNone() async throws {
        try await withTestDatabases { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let b = try await TenantFixture.create(in: databases.app)
            let seen = try await databases.app.withPlatformSweep { connection in
                try await connection.values(
                    "SELECT tenant_id FROM vendors WHERE tenant_id IN (\(a.id), \(b.id))", as: UUID.self
                )
            }
            XCTAssertEqual(Set(seen), [a.id, b.id])
            let error = await thrownError {
                try await databases.app.withPlatformSweep { connection in
                    _ = try await connection.query("UPDATE vendors SET payouts_enabled = false WHERE tenant_id = \(a.id)",
                                               logger: self.logger)
                }
            }
            XCTAssertEqual(error.map { PostgresServerMessage($0).sqlState }, "42501",
                           "a sweep must not write tenant rows; got \(String(describing: error))")
        }
    }

    func testAppRoleDoesNotHoldPlatformPrivilegesWithoutSwitchingRole() async throws {
        try await withTestDatabases { databases in
            _ = try await TenantFixture.create(in: databases.app)
            let (user, visible) = try await databases.app.withoutTenant { connection in
                let user = try await connection.values("SELECT current_user::text", as: String.self)
                let visible = try await connection.values("SELECT count(*) FROM vendors", as: Int64.self)
                return (user, visible)
            }
            XCTAssertEqual(user, ["cityos_app"])
            XCTAssertEqual(visible, [0])
        }
    }

    func testCaughtStatementErrorTurnsCommitIntoTypedError() async throws {
        try await withTestDatabases { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let error = await thrownError {
                try await databases.app.withTenant(a.id) { connection in
                    try await connection.query("UPDATE stores SET name = 'renamed' WHERE id = \(a.storeID)",
                                               logger: self.logger)
                    // A failing statement whose error is swallowed aborts the transaction.
                    _ = try? await connection.query("SELECT 1/0", logger: self.logger)
                }
            }
            XCTAssertEqual(error as? StoreError, .transactionRolledBack)
            let name = try await databases.app.withTenant(a.id) { connection in
                try await connection.values("SELECT name FROM stores WHERE id = \(a.storeID)", as: String.self)
            }
            XCTAssertEqual(name, ["Main"])
        }
    }
}

/// The worker's start-up check (``RoleIsolation``) calls out every role row-level security does
/// not bind as the application role's policies intend.
final class RoleIsolationTests: XCTestCase {
    /// A role granted `cityos_platform` with INHERIT (a DBA's default) holds the platform's sweep
    /// policies, which see every tenant's rows, without `SET ROLE`: the check must refuse it. The
    /// application role, a NOINHERIT member, passes.
    func testARoleThatInheritsThePlatformRoleIsRefused() async throws {
        let adminURL = try TestDatabases.url("CITYOS_DATABASE_ADMIN_URL")
        let superURL = try XCTUnwrap(Self.url(adminURL, user: "postgres"))
        let role = "cityos_inherits_\(UUID().uuidString.prefix(8).lowercased())"
        let superuser = try Database(url: superURL, maximumConnections: 1, logger: TestDatabases.logger)
        try await withTestDatabases { databases in
            try await withRunning([superuser]) {
                func run(_ sql: String) async throws {
                    try await superuser.withoutTenant { connection in
                        _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabases.logger)
                    }
                }
                try await run("CREATE ROLE \(role) LOGIN INHERIT NOSUPERUSER NOBYPASSRLS")
                do {
                    try await run("GRANT cityos_app TO \(role)")
                    try await run("GRANT cityos_platform TO \(role)")
                    let inheriting = try Database(url: try XCTUnwrap(Self.url(adminURL, user: role)), maximumConnections: 1,
                                                  logger: TestDatabases.logger)
                    var problem: String?
                    try await withRunning([inheriting]) { problem = try await RoleIsolation.problem(database: inheriting) }
                    XCTAssertTrue(problem?.contains("inherits cityos_platform") == true, problem ?? "no problem found")
                    try await run("ALTER ROLE \(role) NOINHERIT")
                    let member = try Database(url: try XCTUnwrap(Self.url(adminURL, user: role)), maximumConnections: 1,
                                              logger: TestDatabases.logger)
                    var memberProblem: String?
                    try await withRunning([member]) { memberProblem = try await RoleIsolation.problem(database: member) }
                    XCTAssertNil(memberProblem, "a NOINHERIT member must SET ROLE to sweep, as the application role does")
                    let appProblem = try await RoleIsolation.problem(database: databases.app)
                    XCTAssertNil(appProblem, "the application role")
                } catch {
                    try? await run("DROP ROLE IF EXISTS \(role)")
                    throw error
                }
                try await run("DROP ROLE IF EXISTS \(role)")
            }
        }
    }

    /// `url` with its user replaced (the test PostgreSQL trusts loopback connections).
    private static func url(_ url: String, user: String) -> String? {
        guard var components = URLComponents(string: url) else { return nil }
        components.user = user
        components.password = nil
        return components.string
    }
}
