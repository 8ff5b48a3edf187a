import Logging
import PostgresNIO

/// Whether the database has every migration this build ships (`Migrator` applies them).
public enum SchemaVersion {
    /// The newest migration this build ships; 0 if the bundle cannot be read.
    public static let required: Int = (try? Migration.bundled().map(\.version).max()) ?? 0

    /// The newest migration the database has applied (0 before any), read as the application role.
    public static func applied(database: Database) async throws -> Int {
        let logger = database.logger
        return try await database.withoutTenant { connection in
            let rows = try await connection.query("SELECT coalesce(max(version), 0) FROM schema_migrations", logger: logger)
            for try await version in rows.decode(Int.self) { return version }
            return 0
        }
    }
}
