import Connectors
import Foundation
import PostgresNIO
import Queue
import Store

/// `sync.reconcile` (hourly, Schedules/sync-reconcile.yaml): repairs what the event-driven sync
/// missed, per tenant (`SyncReconciliation`), resuming a run that died from its saved cursor.
///
/// Without a tenant (the schedule) it is a platform sweep: it enqueues one `sync.reconcile` per
/// active tenant through the outbox, in one transaction through the execution ledger, so a
/// redelivered sweep fans out nothing twice.
public struct SyncReconcileJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        /// Products (and documents) per batch: one Medusa page, one transaction.
        public var batchSize: Int?
        /// Only this tenant (operators, tests); the envelope's tenant is used first.
        public var tenantID: UUID?
        enum CodingKeys: String, CodingKey { case batchSize = "batch_size", tenantID = "tenant_id" }
        public init(batchSize: Int? = nil, tenantID: UUID? = nil) {
            self.batchSize = batchSize
            self.tenantID = tenantID
        }
    }

    public static let kind = "sync.reconcile"
    public static let options = JobOptions(queue: "sync", retry: .exponentialJitter(maxAttempts: 8), timeout: .seconds(3600))
    public static let defaultBatchSize = 500

    let database: Database?
    let connectors: Connectors?

    public init(database: Database?, connectors: Connectors?) {
        self.database = database
        self.connectors = connectors
    }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let batchSize = arguments.batchSize ?? Self.defaultBatchSize
        guard (1...1000).contains(batchSize) else { throw JobFailure.permanent("batch_size must be 1...1000, got \(batchSize)") }
        guard let tenant = context.tenant.flatMap(UUID.init(uuidString:)) ?? arguments.tenantID else {
            return try await fanOut(batchSize: batchSize, database: database, context: context)
        }
        var reconciliation = SyncReconciliation(
            database: database, medusa: try JobDependency.required(connectors?.medusa, "the Medusa connector", for: Self.kind),
            payload: try JobDependency.required(connectors?.payload, "the Payload connector", for: Self.kind),
            logger: context.logger)
        reconciliation.progress = { context.reportProgress($0) }
        guard let summary = try await reconciliation.run(tenant: tenant, batchSize: batchSize, jobID: context.jobID) else {
            context.logger.info("sync.reconcile skipped: another job is reconciling this tenant", metadata: [
                "tenant": "\(tenant.uuidString.lowercased())"])
            return
        }
        context.logger.info("sync reconciled", metadata: [
            "tenant": "\(tenant.uuidString.lowercased())", "checked": "\(summary.checked)", "repaired": "\(summary.repaired)",
            "conflicts": "\(summary.conflicts)", "resumed": "\(summary.resumed)", "skipped": "\(summary.skipped)"])
    }

    private func fanOut(batchSize: Int, database: Database, context: JobContext) async throws {
        let logger = context.logger
        let runID = context.jobID
        try await ExecutionLedger(database: database).runOnce(jobID: runID, kind: Self.kind, scope: .platformSweep) { connection in
            let rows = try await connection.query("SELECT id FROM tenants WHERE status = 'active' ORDER BY id", logger: logger)
            var tenants: [UUID] = []
            for try await id in rows.decode(UUID.self) { tenants.append(id) }
            for tenant in tenants {
                try await Outbox.enqueue(on: connection, job: OutboxJob(
                    jobID: JobID.derived(from: "sync.reconcile:\(runID):\(tenant.uuidString.lowercased())"), kind: Self.kind,
                    queue: Self.options.queue, tenant: tenant, argsJSON: "{\"batch_size\":\(batchSize)}"), logger: logger)
            }
            logger.info("sync.reconcile fanned out", metadata: ["tenants": "\(tenants.count)"])
        }
    }
}
