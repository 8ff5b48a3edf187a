import Logging
import Store

/// The test PostgreSQL twice: as the application role (`app`, row-level security applies) and as
/// the schema owner (`admin`, which migrates). From the environment the test command sets.
public struct TestPostgres: Sendable {
    public let app: Database
    public let admin: Database

    public init(appConnections: Int, logger: Logger) throws {
        app = try Database(url: try TestEnvironment.value("CITYOS_DATABASE_URL"), maximumConnections: appConnections,
                           logger: logger)
        admin = try Database(url: try TestEnvironment.value("CITYOS_DATABASE_ADMIN_URL"), maximumConnections: 2,
                             logger: logger)
    }

    /// Runs both connection pools, migrates, runs `body`, then shuts the pools down.
    public func whileRunning(_ body: () async throws -> Void) async throws {
        let (app, admin) = (self.app, self.admin)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await app.run() }
            group.addTask { await admin.run() }
            defer { app.shutdown(); admin.shutdown() }
            try await Migrator(database: admin).migrate()
            try await body()
        }
    }
}
