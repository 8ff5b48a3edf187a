import Foundation
import Logging
import PostgresNIO

/// Whose rows a transaction may see and write; row-level security enforces it.
public enum TransactionScope: Sendable, Hashable {
    /// One tenant: `app.tenant_id` is set for the transaction; other tenants' rows are
    /// invisible, and writing a row for another tenant is rejected (SQLSTATE 42501).
    case tenant(UUID)
    /// No tenant: no tenant row is visible. For platform tables (the ledger, the outbox's
    /// tenant-less jobs, the webhook inbox, diagnostics).
    case noTenant
    /// A platform sweep: `SET LOCAL ROLE cityos_platform`, which may read every tenant's
    /// rows and write none of them; it fans work out as per-tenant jobs via the outbox.
    case platformSweep
}

extension Database {
    /// The role a platform sweep switches to for its transaction.
    public static let platformRole = "cityos_platform"

    /// Runs `body` in one transaction as `tenant`: commits if it returns, rolls back if
    /// it throws (its error is rethrown unchanged).
    ///
    /// `body` must not capture the connection, nor change the session (`SET` without
    /// `LOCAL`, `set_config(…, false)`): the connection returns to a shared pool.
    @discardableResult
    public func withTenant<Result>(
        _ tenant: UUID,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await withTransaction(.tenant(tenant), body)
    }

    /// Which permits a transaction held across outside calls takes (``Database/outsideOrders``,
    /// ``Database/outsideSyncs``, ``Database/outsideBatches``).
    public enum OutsideCallLane: Sendable {
        /// An order's invoice or delivery, created once.
        case orders
        /// One product's sync (an event of Medusa or Payload).
        case sync
        /// A batch held for minutes: a reconciliation's page of products.
        case batch
    }

    /// ``withTenant(_:_:)`` for a transaction that holds its locks across calls to outside services
    /// (creating an order's delivery once, syncing a product): it waits for a permit of its `lane`
    /// first, so that such transactions never hold every connection of the pool. Do not nest it: a
    /// body that asked for a second permit could wait for itself.
    /// - Throws: `CancellationError` if the task is cancelled while it waits for a permit.
    @discardableResult
    public func withTenantAcrossOutsideCalls<Result>(
        _ tenant: UUID,
        lane: OutsideCallLane,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        let permits: Permits
        switch lane {
        case .orders: permits = outsideOrders
        case .sync: permits = outsideSyncs
        case .batch: permits = outsideBatches
        }
        try await permits.acquire()
        defer { permits.release() }
        return try await withTransaction(.tenant(tenant), body)
    }

    /// Runs `body` in one transaction with no tenant set: no tenant row is visible.
    @discardableResult
    public func withoutTenant<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await withTransaction(.noTenant, body)
    }

    /// Runs `body` in one transaction as the platform role (`SET LOCAL ROLE
    /// cityos_platform`): it reads every tenant's rows and writes none of them.
    @discardableResult
    public func withPlatformSweep<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await withTransaction(.platformSweep, body)
    }

    /// Runs `body` in one transaction in `scope`: commits if it returns, rolls back if it
    /// throws. Failures of BEGIN, of entering the scope and of COMMIT are ``StoreError``s.
    @discardableResult
    public func withTransaction<Result>(
        _ scope: TransactionScope,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        let logger = self.logger
        return try await client.withConnection(isolation: isolation) { connection in
            try await Self.transaction(on: connection, scope: scope, logger: logger, body)
        }
    }

    /// BEGIN, enter `scope`, `body`, COMMIT — or ROLLBACK and rethrow.
    ///
    /// If even ROLLBACK fails the connection is closed, so the pool never hands out a
    /// connection still inside this transaction (and its tenant setting).
    static func transaction<Result>(
        on connection: PostgresConnection,
        scope: TransactionScope?,
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        do {
            try await connection.query("BEGIN", logger: logger)
        } catch {
            throw StoreError.query("BEGIN", error)
        }
        let result: Result
        do {
            if let scope { try await enter(scope, on: connection, logger: logger) }
            result = try await body(connection)
        } catch {
            await rollBack(connection, logger: logger)
            throw error
        }
        try await commit(connection, logger: logger)
        return result
    }

    private static func enter(_ scope: TransactionScope, on connection: PostgresConnection, logger: Logger) async throws {
        do {
            switch scope {
            case .tenant(let tenant):
                let id = tenant.uuidString.lowercased()
                try await connection.query("SELECT set_config('app.tenant_id', \(id), true)", logger: logger)
            case .noTenant:
                try await connection.query("SELECT set_config('app.tenant_id', '', true)", logger: logger)
            case .platformSweep:
                try await connection.query("SELECT set_config('app.tenant_id', '', true)", logger: logger)
                try await connection.query("SET LOCAL ROLE \(unescaped: platformRole)", logger: logger)
            }
        } catch {
            throw StoreError.query("entering the \(scope) transaction scope", error)
        }
    }

    private static func commit(_ connection: PostgresConnection, logger: Logger) async throws {
        let outcome: PostgresQueryResult
        do {
            let future: EventLoopFuture<PostgresQueryResult> = connection.query("COMMIT", logger: logger)
            outcome = try await future.get()
        } catch {
            throw StoreError.query("COMMIT", error)
        }
        // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK, not an error.
        guard outcome.metadata.command == "COMMIT" else {
            throw StoreError.transactionRolledBack
        }
    }

    private static func rollBack(_ connection: PostgresConnection, logger: Logger) async {
        do {
            try await connection.query("ROLLBACK", logger: logger)
        } catch {
            logger.error("ROLLBACK failed; closing the connection", metadata: [
                "error": "\(PostgresServerMessage(error).message)",
            ])
            try? await connection.close()
        }
    }
}
