import Foundation
import Logging
import PostgresNIO
import Store

/// Deletes settled webhook inbox rows (`processed`, `ignored`) last updated before a cutoff, tenant
/// by tenant, in bounded batches; rows in any other status (`failed`, `received`) are never deleted.
///
/// Row-level security decides what each step may touch (migration 0006): the sweep that finds the
/// tenants with prunable rows reads as `cityos_platform`, which can delete nothing; each batch is
/// then its own short transaction in that tenant's scope (`withTenant`), which can delete only that
/// tenant's settled rows. Tenant-less rows (events that name no tenant) are deleted the same way in
/// a transaction with no tenant set (`withoutTenant`), which sees only them.
///
/// Deleting is idempotent, so a run needs no execution ledger: a redelivered or interrupted run
/// simply finds fewer rows. A row touched while a batch runs (a late delivery of the event moves its
/// `updated_at`) is kept: the cutoff and status are checked again on the row the DELETE locks.
public struct WebhookInboxPruning: Sendable {
    /// What one run deleted.
    public struct Summary: Sendable, Equatable {
        /// Rows last updated before this instant (the database's clock) were prunable.
        public var cutoff: Date
        /// Rows deleted per tenant, for every tenant the sweep found with prunable rows.
        public var tenants: [UUID: Int] = [:]
        /// Tenant-less rows deleted (none when the run was for one tenant).
        public var platformRows = 0
        /// DELETE statements run (each its own transaction).
        public var batches = 0

        /// Every row deleted.
        public var total: Int { tenants.values.reduce(platformRows, +) }
    }

    /// Rows per DELETE (and per transaction) unless a run asks otherwise.
    public static let defaultBatchSize = 1000

    public let database: Database
    public let batchSize: Int

    public init(database: Database, batchSize: Int = Self.defaultBatchSize) {
        self.database = database
        self.batchSize = max(1, batchSize)
    }

    /// Deletes the settled rows not updated for `olderThanDays` days: only `tenant`'s when given,
    /// else every tenant's and the tenant-less ones. Logs each tenant's count and the total, and tells
    /// `progress` how far it has got after each.
    public func run(olderThanDays: Int, tenant: UUID? = nil, logger: Logger,
                    progress: @Sendable (String) -> Void = { _ in }) async throws -> Summary {
        let (cutoff, owners) = try await prunableOwners(olderThanDays: olderThanDays, tenant: tenant, logger: logger)
        var summary = Summary(cutoff: cutoff)
        for (done, owner) in owners.enumerated() {
            let (deleted, batches) = try await prune(owner, cutoff: cutoff, logger: logger)
            summary.batches += batches
            if let owner {
                summary.tenants[owner] = deleted
            } else {
                summary.platformRows = deleted
            }
            logger.info("webhook inbox pruned", metadata: [
                "tenant": "\(owner?.uuidString.lowercased() ?? "-")", "deleted": "\(deleted)", "batches": "\(batches)"])
            progress("\(done + 1) of \(owners.count) owners pruned, \(summary.total) rows deleted")
        }
        return summary
    }

    /// The cutoff (now minus `olderThanDays`, by the database's clock, which also wrote `updated_at`)
    /// and every owner with prunable rows: a tenant id, or nil for the tenant-less rows. Read as a
    /// platform sweep, which sees every tenant's rows and may delete none.
    func prunableOwners(olderThanDays: Int, tenant: UUID?, logger: Logger) async throws -> (Date, [UUID?]) {
        do {
            return try await database.withPlatformSweep { connection in
                var cutoff = Date()
                let now = try await connection.query(
                    "SELECT now() - make_interval(days => \(olderThanDays)::int)", logger: logger)
                for try await value in now.decode(Date.self) { cutoff = value }
                let rows = try await connection.query("""
                    SELECT DISTINCT tenant_id FROM webhook_inbox
                    WHERE status IN ('processed', 'ignored') AND updated_at < \(cutoff)
                      AND (\(tenant)::uuid IS NULL OR tenant_id = \(tenant))
                    ORDER BY tenant_id NULLS LAST
                    """, logger: logger)
                var owners: [UUID?] = []
                for try await owner in rows.decode(UUID?.self) { owners.append(owner) }
                return (cutoff, owners)
            }
        } catch {
            throw DatabaseFailure("finding the tenants with prunable webhook inbox rows", error)
        }
    }

    /// Deletes `owner`'s prunable rows (nil: the tenant-less ones), one batch per transaction, until
    /// a batch comes back short. Returns the rows deleted and the batches run.
    func prune(_ owner: UUID?, cutoff: Date, logger: Logger) async throws -> (deleted: Int, batches: Int) {
        var deleted = 0
        var batches = 0
        while true {
            try Task.checkCancellation()
            let count = try await deleteBatch(owner, cutoff: cutoff, logger: logger)
            deleted += count
            batches += 1
            if count < batchSize { return (deleted, batches) }
        }
    }

    /// One DELETE of at most `batchSize` of `owner`'s prunable rows, in `owner`'s own scope: the
    /// tenant's (`withTenant`), or no tenant (`withoutTenant`) for the tenant-less rows.
    func deleteBatch(_ owner: UUID?, cutoff: Date, logger: Logger) async throws -> Int {
        let query = Self.batchQuery(owner, cutoff: cutoff, limit: batchSize)
        let scope: TransactionScope = owner.map { .tenant($0) } ?? .noTenant
        do {
            return try await database.withTransaction(scope) { connection in
                var deleted = 0
                for try await count in try await connection.query(query, logger: logger).decode(Int.self) { deleted = count }
                return deleted
            }
        } catch {
            throw DatabaseFailure("pruning the webhook inbox of \(owner?.uuidString.lowercased() ?? "no tenant")", error)
        }
    }

    /// The batch's statement: picks the owner's oldest prunable ids first (`ARRAY(…)` keeps the planner
    /// from scanning every tenant's old rows to join them), deletes those still prunable (status and
    /// cutoff are rechecked on the locked row), and counts them.
    static func batchQuery(_ owner: UUID?, cutoff: Date, limit: Int) -> PostgresQuery {
        // Two texts rather than `tenant_id IS NOT DISTINCT FROM $1`, which no index serves.
        if let owner {
            return """
                WITH gone AS (
                    DELETE FROM webhook_inbox
                    WHERE id = ANY(ARRAY(SELECT id FROM webhook_inbox
                                 WHERE tenant_id = \(owner) AND status IN ('processed', 'ignored') AND updated_at < \(cutoff)
                                 ORDER BY updated_at LIMIT \(limit)))
                      AND status IN ('processed', 'ignored') AND updated_at < \(cutoff)
                    RETURNING 1)
                SELECT count(*)::int8 FROM gone
                """
        }
        return """
            WITH gone AS (
                DELETE FROM webhook_inbox
                WHERE id = ANY(ARRAY(SELECT id FROM webhook_inbox
                             WHERE tenant_id IS NULL AND status IN ('processed', 'ignored') AND updated_at < \(cutoff)
                             ORDER BY updated_at LIMIT \(limit)))
                  AND status IN ('processed', 'ignored') AND updated_at < \(cutoff)
                RETURNING 1)
            SELECT count(*)::int8 FROM gone
            """
    }
}
