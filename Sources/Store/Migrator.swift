import Foundation
import Logging
import PostgresNIO

/// Applies versioned SQL migrations, each once, in its own transaction.
///
/// Runs as the schema owner (`CITYOS_DATABASE_ADMIN_URL`). Applied migrations are
/// recorded in `schema_migrations (version, name, checksum, applied_at)`. Every run first
/// checks that no applied migration's file was edited since (``StoreError/checksumMismatch(name:applied:current:)``
/// stops start-up before anything new is applied). Each transaction takes one advisory
/// lock, so processes migrating at once apply each migration exactly once.
public struct Migrator: Sendable {
    /// The advisory lock key every migrating transaction takes ("cityos" in ASCII).
    public static let advisoryLockKey: Int64 = 0x63_69_74_79_6F_73

    /// What the database says it has applied.
    public struct AppliedMigration: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var checksum: String
    }

    public let database: Database
    public let migrations: [Migration]
    /// How long one statement of a migration waits for a lock before the migration is rolled
    /// back and tried again, and how many times it is tried. An `ALTER TABLE` waiting behind a
    /// running worker's long transaction (a rolling deploy) would otherwise queue every later
    /// query on that table behind itself: all jobs would stall until that transaction ended.
    public var lockTimeout: Duration = .seconds(5)
    public var lockAttempts = 12
    /// The pause between two tries of a migration that timed out on a lock.
    public var lockRetryPause: Duration = .seconds(5)

    /// A migrator applying `migrations` (by default those shipped with the store).
    /// Throws if two of them share a version.
    public init(database: Database, migrations: [Migration]? = nil) throws {
        self.database = database
        self.migrations = try Migration.ordered(migrations ?? Migration.bundled())
    }

    /// Applies every migration not applied yet, in version order; returns those it
    /// applied (none when the schema is current or another process applied them).
    @discardableResult
    public func migrate() async throws -> [Migration] {
        let applied = try await prepare()
        try verify(applied)
        var newlyApplied: [Migration] = []
        for migration in migrations where applied[migration.version] == nil {
            if try await applyWaitingForLocks(migration) {
                database.logger.info("applied migration", metadata: ["migration": "\(migration.name)"])
                newlyApplied.append(migration)
            }
        }
        return newlyApplied
    }

    /// The migrations the database has recorded, by version (none before the first run).
    public func appliedMigrations() async throws -> [AppliedMigration] {
        try await inLockedTransaction("reading schema_migrations") { connection, logger in
            try await Self.createHistoryTable(connection, logger)
            return try await Self.history(connection, logger).values.sorted { $0.version < $1.version }
        }
    }

    /// Creates `schema_migrations` if needed and reads it.
    private func prepare() async throws -> [Int: AppliedMigration] {
        try await inLockedTransaction("preparing schema_migrations") { connection, logger in
            try await Self.createHistoryTable(connection, logger)
            return try await Self.history(connection, logger)
        }
    }

    /// Throws if an applied migration's file changed; warns about unknown applied ones.
    private func verify(_ applied: [Int: AppliedMigration]) throws {
        let known = Dictionary(migrations.map { ($0.version, $0) }, uniquingKeysWith: { first, _ in first })
        for record in applied.values.sorted(by: { $0.version < $1.version }) {
            guard let migration = known[record.version] else {
                database.logger.warning("the database has a migration this build does not know", metadata: [
                    "migration": "\(record.name)",
                ])
                continue
            }
            try Self.check(migration, against: record)
        }
    }

    /// `apply`, tried again (up to `lockAttempts` times) while a statement times out waiting for
    /// a lock (SQLSTATE 55P03): the running transactions that hold it end meanwhile.
    private func applyWaitingForLocks(_ migration: Migration) async throws -> Bool {
        var attempt = 1
        while true {
            do {
                return try await apply(migration)
            } catch let StoreError.migrationFailed(_, statement, "55P03"?, _) where attempt < lockAttempts {
                database.logger.warning("""
                    a migration waited too long for a lock held by running transactions; rolled back, \
                    trying again
                    """, metadata: ["migration": "\(migration.name)", "statement": "\(statement)",
                                    "attempt": "\(attempt)", "of": "\(lockAttempts)"])
                attempt += 1
                try await Task.sleep(for: lockRetryPause)
            }
        }
    }

    /// Applies `migration` unless another process did meanwhile; true if this one did.
    private func apply(_ migration: Migration) async throws -> Bool {
        let lockTimeout = "\(max(1, lockTimeout.components.seconds * 1000 + lockTimeout.components.attoseconds / 1_000_000_000_000_000))ms"
        return try await inLockedTransaction("applying \(migration.name)") { connection, logger in
            let rows = try await connection.query(
                "SELECT version, name, checksum FROM schema_migrations WHERE version = \(migration.version)",
                logger: logger
            )
            for try await (version, name, checksum) in rows.decode((Int, String, String).self) {
                try Self.check(migration, against: AppliedMigration(version: version, name: name, checksum: checksum))
                return false
            }
            // After the advisory lock, which waits for another migrator as long as it takes.
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = '\(lockTimeout)'"), logger: logger)
            for (number, statement) in SQLScript.statements(in: migration.sql).enumerated() {
                do {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                } catch {
                    let server = PostgresServerMessage(error)
                    throw StoreError.migrationFailed(
                        name: migration.name, statement: number + 1,
                        sqlState: server.sqlState, message: server.message
                    )
                }
            }
            try await connection.query(
                """
                INSERT INTO schema_migrations (version, name, checksum)
                VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                """,
                logger: logger
            )
            return true
        }
    }

    private static func check(_ migration: Migration, against record: AppliedMigration) throws {
        guard record.checksum == migration.checksum else {
            throw StoreError.checksumMismatch(name: record.name, applied: record.checksum, current: migration.checksum)
        }
    }

    /// One transaction holding the migration lock. Errors other than ``StoreError``s are
    /// wrapped with `operation`.
    private func inLockedTransaction<Result: Sendable>(
        _ operation: String,
        _ body: @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        let logger = database.logger
        do {
            return try await database.client.withConnection { connection in
                try await Database.transaction(on: connection, scope: nil, logger: logger) { connection in
                    try await connection.query("SELECT pg_advisory_xact_lock(\(Self.advisoryLockKey))", logger: logger)
                    return try await body(connection, logger)
                }
            }
        } catch {
            throw StoreError.query(operation, error)
        }
    }

    private static func createHistoryTable(_ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version     integer PRIMARY KEY,
                name        text NOT NULL,
                checksum    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )
            """,
            logger: logger
        )
    }

    private static func history(_ connection: PostgresConnection, _ logger: Logger) async throws -> [Int: AppliedMigration] {
        let rows = try await connection.query("SELECT version, name, checksum FROM schema_migrations", logger: logger)
        var applied: [Int: AppliedMigration] = [:]
        for try await (version, name, checksum) in rows.decode((Int, String, String).self) {
            applied[version] = AppliedMigration(version: version, name: name, checksum: checksum)
        }
        return applied
    }
}
