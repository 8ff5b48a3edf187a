import Foundation
import PostgresNIO
import Queue

/// What went wrong in the store, and what to do about it.
///
/// Errors thrown by a caller's own transaction body pass through unchanged; the store
/// wraps only the failures of its own work (connecting, migrating, its own queries).
public enum StoreError: Error, Sendable, Equatable {
    /// A database URL could not be used. Fix the configuration
    /// (`postgres://user[:password]@host[:port]/database`).
    case invalidURL(String, reason: String)

    /// The migrations directory is missing or unreadable.
    case migrationsUnavailable(path: String, reason: String)

    /// A migration file's name is not `NNNN_name.sql`.
    case invalidMigrationName(String)

    /// Two migration files share a version number.
    case duplicateMigrationVersion(Int, names: [String])

    /// An applied migration's file was edited afterwards. Start-up must stop: restore the
    /// file, and put the change in a new migration.
    case checksumMismatch(name: String, applied: String, current: String)

    /// A migration's SQL failed; it was rolled back and nothing of it was applied.
    case migrationFailed(name: String, statement: Int, sqlState: String?, message: String)

    /// A query the store itself ran failed.
    case queryFailed(operation: String, sqlState: String?, message: String)

    /// COMMIT turned into ROLLBACK: a statement in the transaction failed and its error
    /// was caught inside the body instead of being rethrown. Nothing was written.
    case transactionRolledBack

    /// The database answered something the store does not understand.
    case unexpectedResult(operation: String, detail: String)
}

extension StoreError: CustomStringConvertible, LocalizedError {
    public var description: String {
        switch self {
        case .invalidURL(let url, let reason):
            return "invalid database URL \(url): \(reason)"
        case .migrationsUnavailable(let path, let reason):
            return "migrations at \(path) cannot be read: \(reason)"
        case .invalidMigrationName(let name):
            return "migration file \(name) is not named NNNN_name.sql"
        case .duplicateMigrationVersion(let version, let names):
            return "migration version \(version) is used by more than one file: \(names.joined(separator: ", "))"
        case .checksumMismatch(let name, let applied, let current):
            return "migration \(name) was applied with checksum \(applied) but the file now has \(current); "
                + "restore the file and put the change in a new migration"
        case .migrationFailed(let name, let statement, let sqlState, let message):
            let hint = sqlState == "55P03"
                ? " (every try waited too long for a lock that running transactions held: let the workers' "
                    + "long jobs finish, or stop the workers of the old build, then migrate again)"
                : ""
            return "migration \(name) failed at statement \(statement)\(Self.state(sqlState)): \(message); "
                + "it was rolled back" + hint
        case .queryFailed(let operation, let sqlState, let message):
            return "\(operation) failed\(Self.state(sqlState)): \(message)"
        case .transactionRolledBack:
            return "the transaction was rolled back at COMMIT because a statement in it had failed "
                + "and its error was not rethrown; nothing was written"
        case .unexpectedResult(let operation, let detail):
            return "\(operation) returned an unexpected result: \(detail)"
        }
    }

    public var errorDescription: String? { description }

    private static func state(_ sqlState: String?) -> String {
        sqlState.map { " (SQLSTATE \($0))" } ?? ""
    }
}

extension StoreError {
    /// Wraps a failure of the store's own query, keeping the server's SQLSTATE and message
    /// (PostgresNIO's own description hides them to avoid leaking data into logs).
    static func query(_ operation: String, _ error: any Error) -> StoreError {
        if let store = error as? StoreError { return store }
        let server = PostgresServerMessage(error)
        return .queryFailed(operation: operation, sqlState: server.sqlState, message: server.message)
    }
}

/// The server's SQLSTATE and message carried by a PostgresNIO error, if any.
///
/// Use it to tell a row-level-security rejection (`42501`) or a unique violation
/// (`23505`) from other failures in a transaction body.
public struct PostgresServerMessage: Sendable, Equatable {
    /// The five-character SQLSTATE, when the server sent one.
    public var sqlState: String?
    /// The server's message, or a description of a client-side failure.
    public var message: String

    public init(sqlState: String?, message: String) {
        self.sqlState = sqlState
        self.message = message
    }

    /// Reads the server's fields from `error` (a `PSQLError`, possibly inside a
    /// `PostgresTransactionError`); other errors are described as they are.
    public init(_ error: any Error) {
        if let psql = error as? PSQLError {
            var text = psql.serverInfo?[.message] ?? "\(psql.code)"
            if let detail = psql.serverInfo?[.detail] { text += " (\(detail))" }
            self.init(sqlState: psql.serverInfo?[.sqlState], message: text)
        } else if let transaction = error as? PostgresTransactionError,
                  let inner = transaction.closureError ?? transaction.commitError ?? transaction.beginError {
            self.init(inner)
        } else {
            self.init(sqlState: nil, message: "\(error)")
        }
    }
}

// A failed query's dead letter names what PostgreSQL said (message and SQLSTATE, never the
// statement's values) instead of PostgresNIO's deliberately generic description.
extension PSQLError: OperatorDescribedError {
    public var operatorDescription: String {
        guard let message = serverInfo?[.message] else { return "PostgreSQL: \(code)" }
        return "PostgreSQL: \(message) (SQLSTATE \(serverInfo?[.sqlState] ?? "?"))"
    }
}

extension PostgresTransactionError: OperatorDescribedError {
    public var operatorDescription: String {
        guard let inner = closureError ?? commitError ?? beginError else { return "\(self)" }
        if let described = inner as? any OperatorDescribedError { return described.operatorDescription }
        return "\(inner)"
    }
}
