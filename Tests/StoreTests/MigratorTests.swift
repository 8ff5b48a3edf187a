import Foundation
import PostgresNIO
import XCTest
@testable import Store

/// Migrations: applied once, safely at once from two processes, never silently edited.
/// These tests drop and recreate the public schema (as its owner) and leave it migrated.
final class MigratorTests: XCTestCase {
    private let logger = TestDatabases.logger

    func testMigratingTwiceLeavesTheSameSchema() async throws {
        try await withTestDatabases(migrate: false) { databases in
            try await SchemaDump.reset(databases.admin)
            let migrator = try Migrator(database: databases.admin)
            let first = try await migrator.migrate()
            let afterFirst = try await SchemaDump.of(databases.admin)
            let second = try await migrator.migrate()
            let afterSecond = try await SchemaDump.of(databases.admin)

            XCTAssertEqual(first.map(\.name), try Migration.bundled().map(\.name))
            XCTAssertEqual(second, [], "a second run must apply nothing")
            XCTAssertEqual(afterFirst, afterSecond)
            XCTAssertTrue(afterFirst.contains("table vendors owner=cityos rls=t force=t"))
            XCTAssertFalse(afterFirst.contains { $0.contains("owner=cityos_app") }, "no table may belong to cityos_app")
        }
    }

    func testTwoMigratorsAtOnceBothSucceedWithOneSchema() async throws {
        let other = try TestDatabases.adminDatabase()
        try await withTestDatabases(migrate: false) { databases in
            try await SchemaDump.reset(databases.admin)
            try await Migrator(database: databases.admin).migrate()
            let sequential = try await SchemaDump.of(databases.admin)
            try await SchemaDump.reset(databases.admin)

            try await withRunning([other]) {
                async let one = Migrator(database: databases.admin).migrate()
                async let two = Migrator(database: other).migrate()
                let (applied1, applied2) = try await (one, two)
                let names = (applied1 + applied2).map(\.name).sorted()
                XCTAssertEqual(names, try Migration.bundled().map(\.name).sorted(),
                               "each migration must be applied by exactly one of the two")
            }
            let concurrent = try await SchemaDump.of(databases.admin)
            XCTAssertEqual(concurrent, sequential)
        }
    }

    func testEditedAppliedMigrationStopsStartUpWithItsChecksums() async throws {
        try await withTestDatabases { databases in
            var edited = try Migration.bundled()
            let original = edited[0]
            edited[0] = try Migration(name: original.name, sql: original.sql + "\n-- an innocent edit\n")
            let error = await thrownError {
                _ = try await Migrator(database: databases.admin, migrations: edited).migrate()
            }
            XCTAssertEqual(error as? StoreError, .checksumMismatch(
                name: original.name, applied: original.checksum, current: edited[0].checksum
            ))
            XCTAssertTrue("\(error.map { "\($0)" } ?? "")".hasPrefix(
                "migration \(original.name) was applied with checksum \(original.checksum) but the file now has \(edited[0].checksum)"
            ))
        }
    }

    /// A migration whose statement waits behind a running transaction's lock gives up after its
    /// lock timeout, is rolled back and tried again (queries behind it are not held for longer
    /// than that); once the transaction ends, the next try applies it. A lock held through every
    /// try stops the migration, saying why.
    func testAMigrationBehindARunningTransactionsLockIsTriedAgainThenApplied() async throws {
        let table = "lock_probe_\(UInt32.random(in: 0...UInt32.max))"
        let version = 900_000 + Int.random(in: 0..<90_000)
        let migration = try Migration(name: "\(version)_probe.sql", sql: "ALTER TABLE \(table) ADD COLUMN added int;\n")
        let logger = TestDatabases.logger
        try await withTestDatabases { databases in
            let admin = databases.admin
            /// The shared test database keeps no trace of the probe.
            func cleanUp() async throws {
                try await admin.withoutTenant { connection in
                    _ = try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(table)"), logger: logger)
                    _ = try await connection.query("DELETE FROM schema_migrations WHERE version = \(version)", logger: logger)
                }
            }
            try await admin.withoutTenant { connection in
                _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (id int)"), logger: logger)
            }
            do {
                try await lockProbe(admin: admin, table: table, version: version, migration: migration)
            } catch {
                try? await cleanUp()
                throw error
            }
            try await cleanUp()
        }
    }

    private func lockProbe(admin: Database, table: String, version: Int, migration: Migration) async throws {
        let logger = TestDatabases.logger
        var migrator = try Migrator(database: admin, migrations: try Migration.bundled() + [migration])
        migrator.lockTimeout = .milliseconds(200)
        migrator.lockRetryPause = .milliseconds(100)
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        let (locked, didLock) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await admin.withoutTenant { connection in
                _ = try await connection.query(PostgresQuery(unsafeSQL: "SELECT * FROM \(table) FOR UPDATE"), logger: logger)
                didLock.yield()
                for await _ in released { break }
            }
        }
        defer { release.finish() }
        for await _ in locked { break }

        // A lock held through every try: the migration stops, rolled back, naming the cause.
        migrator.lockAttempts = 2
        let error = await thrownError { _ = try await migrator.migrate() }
        guard case .migrationFailed(_, _, let sqlState, _)? = error as? StoreError else {
            return XCTFail("expected migrationFailed, got \(String(describing: error))")
        }
        XCTAssertEqual(sqlState, "55P03")
        XCTAssertTrue("\(error.map { "\($0)" } ?? "")".contains("waited too long for a lock"), "\(String(describing: error))")
        let notYet = try await Migrator(database: admin).appliedMigrations().contains { $0.version == version }
        XCTAssertFalse(notYet, "a failed migration is not recorded")

        // Tried again while the lock is held; applied once the transaction ends.
        migrator.lockAttempts = 100
        let migrating = Task { [migrator] in try await migrator.migrate() }
        // Seen waiting on the lock in two statements (two start times): a try gave up and came back.
        let starts = Recorder<String>()
        try await eventually(within: 20, "the migrator to wait on the probe's lock, time out, and wait again") {
            let waiting = try await admin.withoutTenant { connection in
                try await connection.values("""
                    SELECT query_start::text FROM pg_stat_activity
                    WHERE wait_event_type = 'Lock' AND query LIKE \("ALTER TABLE \(table)%")
                    """, as: String.self)
            }
            starts.append(contentsOf: waiting)
            return Set(starts.all).count >= 2
        }
        release.finish()
        try await holder.value
        let applied = try await migrating.value
        XCTAssertEqual(applied.map(\.version), [version])
        let columns = try await admin.withoutTenant { connection in
            try await connection.values("""
                SELECT count(*) FROM information_schema.columns WHERE table_name = \(table) AND column_name = 'added'
                """, as: Int64.self)
        }
        XCTAssertEqual(columns, [1])
    }

    func testFailedMigrationIsRolledBackAndNotRecorded() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cityos-migrations-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for migration in try Migration.bundled() {
            try Data(migration.sql.utf8).write(to: directory.appendingPathComponent(migration.name))
        }
        try Data("CREATE TABLE half_done (id int);\nSELECT no_such_column FROM half_done;\n".utf8)
            .write(to: directory.appendingPathComponent("9999_broken.sql"))

        try await withTestDatabases { databases in
            let migrations = try Migration.load(from: directory)
            XCTAssertEqual(migrations.last?.version, 9999)
            let error = await thrownError {
                _ = try await Migrator(database: databases.admin, migrations: migrations).migrate()
            }
            guard case .migrationFailed(let name, let statement, let sqlState, _)? = error as? StoreError else {
                return XCTFail("expected migrationFailed, got \(String(describing: error))")
            }
            XCTAssertEqual([name, "\(statement)", sqlState ?? "-"], ["9999_broken.sql", "2", "42703"])
            let leftovers = try await databases.admin.withoutTenant { connection in
                try await connection.values(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'half_done'",
                    as: Int64.self
                )
            }
            XCTAssertEqual(leftovers, [0])
            let applied = try await Migrator(database: databases.admin).appliedMigrations()
            XCTAssertFalse(applied.contains { $0.version == 9999 })
        }
    }

    /// Migration 0015's index (one payout per Stripe transfer) on a database where two payouts
    /// already hold one transfer: it stops naming the transfer, though row-level security hides
    /// every payout from the schema's owner, and applies nothing. Once they are settled, it applies.
    func testTwoPayoutsHoldingOneTransferStopMigration15NamingIt() async throws {
        try await withTestDatabases(migrate: false) { databases in
            try await SchemaDump.reset(databases.admin)
            let all = try Migration.bundled()
            try await Migrator(database: databases.admin, migrations: all.filter { $0.version < 15 }).migrate()
            let tenant = UUID()
            let vendor = UUID()
            let payouts = [UUID(), UUID()]
            try await databases.app.withTenant(tenant) { connection in
                try await connection.query("INSERT INTO tenants (id, slug, name) VALUES (\(tenant), 'm15', 'M15')", logger: logger)
                try await connection.query("""
                    INSERT INTO vendors (tenant_id, id, slug, name, minimum_payout_currency)
                    VALUES (\(tenant), \(vendor), 'v', 'V', 'USD')
                    """, logger: logger)
                for (index, payout) in payouts.enumerated() {
                    try await connection.query("""
                        INSERT INTO payouts (tenant_id, id, vendor_id, amount, currency, destination)
                        VALUES (\(tenant), \(payout), \(vendor), 100, \(index == 0 ? "USD" : "EUR"), 'acct_1')
                        """, logger: logger)
                    try await connection.query(
                        "UPDATE payouts SET status = 'paid', stripe_transfer_id = 'tr_twice' WHERE id = \(payout)", logger: logger)
                }
            }
            let error = await thrownError { _ = try await Migrator(database: databases.admin).migrate() }
            guard case .migrationFailed(let name, _, _, let message)? = error as? StoreError else {
                return XCTFail("expected migrationFailed, got \(String(describing: error))")
            }
            XCTAssertEqual(name, "0015_one_payout_per_transfer.sql")
            XCTAssertTrue(message.contains("payouts share a Stripe transfer: tr_twice (2 payouts)"), message)
            let applied = try await Migrator(database: databases.admin).appliedMigrations()
            XCTAssertEqual(applied.map(\.version).max(), 14)
            let schema = try await SchemaDump.of(databases.admin)
            XCTAssertTrue(schema.contains("table payouts owner=cityos rls=t force=t"), "the rollback kept row-level security forced")

            try await databases.app.withTenant(tenant) { connection in
                try await connection.query(
                    "UPDATE payouts SET status = 'failed', stripe_transfer_id = NULL, failure_reason = 'settled' WHERE id = \(payouts[1])",
                    logger: logger)
            }
            let applying = try await Migrator(database: databases.admin).migrate()
            XCTAssertEqual(applying.map(\.version), all.filter { $0.version >= 15 }.map(\.version))
        }
    }

    func testMigrationFilesAreNamedByVersion() throws {
        XCTAssertEqual(try Migration(name: "0002_outbox.sql", sql: "").version, 2)
        for bad in ["core.sql", "0001core.sql", "_core.sql", "0001_core.txt", "x001_core.sql"] {
            XCTAssertThrowsError(try Migration(name: bad, sql: ""), bad) { error in
                XCTAssertEqual(error as? StoreError, .invalidMigrationName(bad))
            }
        }
        let one = try Migration(name: "0001_a.sql", sql: "")
        let again = try Migration(name: "0001_b.sql", sql: "")
        XCTAssertThrowsError(try Migration.ordered([one, again])) { error in
            XCTAssertEqual(error as? StoreError, .duplicateMigrationVersion(1, names: ["0001_a.sql", "0001_b.sql"]))
        }
    }

    func testChecksumIsSHA256OfTheFile() throws {
        let migration = try Migration(name: "0001_x.sql", sql: "abc")
        XCTAssertEqual(migration.checksum, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
