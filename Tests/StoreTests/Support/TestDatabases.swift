import Foundation
import Logging
import PostgresNIO
import XCTest
@testable import Store

/// The test PostgreSQL: the application role (RLS applies) and the schema owner.
struct TestDatabases {
    let app: Database
    let admin: Database

    /// Why a database test cannot run; thrown so the test fails saying what to do.
    struct MissingEnvironment: Error, CustomStringConvertible {
        let variable: String
        var description: String {
            "\(variable) is not set. The Store tests need a PostgreSQL bootstrapped with the cityos roles: "
                + "export e.g. CITYOS_DATABASE_URL=postgres://cityos_app@127.0.0.1:5432/cityos (the application role) "
                + "and CITYOS_DATABASE_ADMIN_URL=postgres://cityos@127.0.0.1:5432/cityos (the schema owner)"
        }
    }

    static let logger: Logger = {
        var logger = Logger(label: "cityos.store.tests")
        // PostgresNIO warns when a test leases a connection a moment before run() starts;
        // that is expected here, so only errors are shown.
        logger.logLevel = .error
        return logger
    }()

    static func url(_ variable: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
            throw MissingEnvironment(variable: variable)
        }
        return value
    }

    static func appDatabase(maximumConnections: Int = 8) throws -> Database {
        try Database(url: url("CITYOS_DATABASE_URL"), maximumConnections: maximumConnections, logger: logger)
    }

    static func adminDatabase() throws -> Database {
        try Database(url: url("CITYOS_DATABASE_ADMIN_URL"), maximumConnections: 4, logger: logger)
    }
}

/// Runs `body` with the test databases running (and, unless told otherwise, migrated),
/// then shuts them down.
func withTestDatabases(
    migrate: Bool = true,
    appConnections: Int = 8,
    _ body: (TestDatabases) async throws -> Void
) async throws {
    let databases = TestDatabases(
        app: try TestDatabases.appDatabase(maximumConnections: appConnections),
        admin: try TestDatabases.adminDatabase()
    )
    try await withRunning([databases.app, databases.admin]) {
        if migrate { try await Migrator(database: databases.admin).migrate() }
        try await body(databases)
    }
}

/// Runs each database's pool for the duration of `body`.
func withRunning(_ databases: [Database], _ body: () async throws -> Void) async throws {
    try await withThrowingDiscardingTaskGroup { group in
        for database in databases {
            group.addTask { await database.run() }
        }
        defer { databases.forEach { $0.shutdown() } }
        try await body()
    }
}
