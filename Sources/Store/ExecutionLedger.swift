import Foundation
import Logging
import PostgresNIO
import Queue

/// What ``ExecutionLedger/runOnce(jobID:kind:scope:body:)`` did.
public enum LedgerOutcome: Sendable, Equatable {
    /// The body ran and its transaction committed together with the ledger row.
    case ran
    /// A delivery of this job id had already committed; the body did not run.
    case alreadyDone
}

/// Effectively-once effects for at-least-once delivery.
///
/// A job that changes PostgreSQL runs its changes through ``runOnce(jobID:kind:scope:body:)``:
/// one transaction inserts the job's ledger row first, then runs the body, then commits.
/// If the row was already there the job had committed before, and the body is skipped.
/// Two deliveries of one job at once: the second insert waits on the first's uncommitted
/// row, then sees the conflict (first committed) or inserts and runs (first rolled back).
public struct ExecutionLedger: Sendable {
    public let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// Runs `body` once per `jobID`, in a transaction as `tenant` (or with no tenant).
    @discardableResult
    public func runOnce(
        jobID: String,
        kind: String,
        tenant: UUID?,
        body: (PostgresConnection) async throws -> Void
    ) async throws -> LedgerOutcome {
        try await runOnce(jobID: jobID, kind: kind, scope: tenant.map { .tenant($0) } ?? .noTenant, body: body)
    }

    /// Runs `body` once per `jobID`, in a transaction in `scope` (a platform sweep job
    /// passes `.platformSweep`). The body's errors roll everything back, the ledger row
    /// too, and are rethrown unchanged so the job can be retried.
    @discardableResult
    public func runOnce(
        jobID: String,
        kind: String,
        scope: TransactionScope,
        body: (PostgresConnection) async throws -> Void
    ) async throws -> LedgerOutcome {
        let logger = database.logger
        // Tenant and no-tenant scopes set the tenant in the claim's own statement (one round
        // trip fewer for every job); the platform sweep enters its role the ordinary way.
        if case .platformSweep = scope {
            return try await database.withTransaction(scope) { connection in
                guard try await Self.claim(jobID: jobID, kind: kind, scope: scope, setsScope: false, connection, logger) else {
                    return .alreadyDone
                }
                try await body(connection)
                return .ran
            }
        }
        return try await database.client.withConnection { connection in
            try await Database.transaction(on: connection, scope: nil, logger: logger) { connection in
                guard try await Self.claim(jobID: jobID, kind: kind, scope: scope, setsScope: true, connection, logger) else {
                    return LedgerOutcome.alreadyDone
                }
                try await body(connection)
                return LedgerOutcome.ran
            }
        }
    }

    /// Whether `jobID` has committed before (seen from any scope: a platform sweep reads every
    /// tenant's rows; a tenant's or tenant-less transaction sees only its own scope's).
    public func hasCompleted(jobID: String) async throws -> Bool {
        let logger = database.logger
        return try await database.withPlatformSweep { connection in
            do {
                let rows = try await connection.query(
                    "SELECT 1 FROM job_executions WHERE job_id = \(jobID)", logger: logger
                )
                for try await _ in rows { return true }
                return false
            } catch {
                throw StoreError.query("reading the execution ledger", error)
            }
        }
    }

    /// Whether `jobID`'s ledger row is this scope's own: `tenant`'s, or a tenant-less one for nil.
    /// Row-level security shows a tenant or tenant-less transaction only its own rows; a platform
    /// sweep sees every tenant's, and a tenant's row must not pass for the sweep's having run.
    static func visible(_ jobID: String, tenant: UUID?, _ connection: PostgresConnection, _ logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT 1 FROM job_executions WHERE job_id = \(jobID) AND tenant_id IS NOT DISTINCT FROM \(tenant)", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Inserts the ledger row; false if the job already committed. With `setsScope`, the same
    /// statement first sets `app.tenant_id` for the transaction (as `withTenant` would).
    private static func claim(
        jobID: String, kind: String, scope: TransactionScope, setsScope: Bool,
        _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> Bool {
        var tenant: UUID?
        if case .tenant(let id) = scope { tenant = id }
        let tenantSetting = tenant?.uuidString.lowercased() ?? ""
        do {
            let rows: PostgresRowSequence
            if setsScope {
                rows = try await connection.query(
                    """
                    WITH scope AS (SELECT set_config('app.tenant_id', \(tenantSetting), true))
                    INSERT INTO job_executions (job_id, kind, tenant_id)
                    SELECT \(jobID), \(kind), \(tenant) FROM scope
                    ON CONFLICT (job_id) DO NOTHING
                    RETURNING job_id
                    """,
                    logger: logger
                )
            } else {
                rows = try await connection.query(
                    """
                    INSERT INTO job_executions (job_id, kind, tenant_id)
                    VALUES (\(jobID), \(kind), \(tenant))
                    ON CONFLICT (job_id) DO NOTHING
                    RETURNING job_id
                    """,
                    logger: logger
                )
            }
            var inserted = false
            for try await _ in rows { inserted = true }
            if !inserted, try await !visible(jobID, tenant: tenant, connection, logger) {
                // The id's row belongs to another scope (row-level security hides it): another
                // tenant claimed this id first. Skipping as "already done" would let a tenant
                // that guessed a derived id silence another tenant's job.
                throw JobFailure.permanent("job id \(jobID) is already recorded in another scope's execution ledger "
                    + "(another tenant's, or a tenant's for a platform job): not run")
            }
            return inserted
        } catch let failure as JobFailure {
            throw failure
        } catch {
            throw StoreError.query("recording job \(jobID) in the execution ledger", error)
        }
    }
}
