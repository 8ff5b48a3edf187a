import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// `payouts.run` (daily, Schedules/vendor-payouts.yaml): finds, across tenants, the vendors that
/// may have something to pay — payouts enabled on a connected account, of an `active` tenant (a
/// suspended or deleted tenant's vendors are not paid new money), and entries not yet paid out, or a
/// payout left pending (settled whatever the tenant's status: it may already be sent) — and enqueues one `payouts.vendor` job per vendor through the
/// outbox. It reads as a platform sweep and writes only the outbox, in one transaction through the
/// execution ledger, so a redelivered run fans out nothing twice. Two runs (a manual one and the
/// schedule) are harmless too: `payouts.vendor` resumes a pending payout or finds nothing payable.
/// Whether a balance is payable (hold period, minimum) is decided by `payouts.vendor`, per tenant.
public struct PayoutsRunJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        /// Only this tenant's vendors (operators, tests); all tenants when absent.
        public var tenantID: UUID?
        enum CodingKeys: String, CodingKey { case tenantID = "tenant_id" }
        public init(tenantID: UUID? = nil) { self.tenantID = tenantID }
    }

    public static let kind = "payouts.run"
    public static let options = JobOptions(queue: "payouts", retry: .exponentialJitter(maxAttempts: 8), timeout: .seconds(300))
    let database: Database?

    public init(database: Database?) { self.database = database }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let logger = context.logger
        let runID = context.jobID
        try await ExecutionLedger(database: database).runOnce(jobID: runID, kind: Self.kind, scope: .platformSweep) { connection in
            let rows = try await connection.query("""
                SELECT v.tenant_id, v.id FROM vendors v
                WHERE (\(arguments.tenantID)::uuid IS NULL OR v.tenant_id = \(arguments.tenantID))
                  AND ((v.payouts_enabled AND v.stripe_account_id IS NOT NULL AND v.status = 'active'
                        AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = v.tenant_id AND t.status = 'active')
                        AND EXISTS (SELECT 1 FROM vendor_ledger_entries e
                                    WHERE e.tenant_id = v.tenant_id AND e.vendor_id = v.id AND e.kind <> 'payout'
                                      AND NOT EXISTS (
                                          SELECT 1 FROM payout_items i
                                          JOIN payouts p ON p.tenant_id = i.tenant_id AND p.id = i.payout_id
                                          WHERE i.tenant_id = e.tenant_id AND i.entry_id = e.id
                                            AND p.status IN ('pending', 'paid'))))
                       OR EXISTS (SELECT 1 FROM payouts p
                                  WHERE p.tenant_id = v.tenant_id AND p.vendor_id = v.id AND p.status = 'pending'))
                ORDER BY v.tenant_id, v.id
                """, logger: logger)
            var vendors: [(UUID, UUID)] = []
            for try await row in rows.decode((UUID, UUID).self) { vendors.append(row) }
            for (tenant, vendor) in vendors {
                let args = "{\"vendor_id\":\"\(vendor.uuidString.lowercased())\"}"
                try await Outbox.enqueue(on: connection, job: OutboxJob(
                    jobID: JobID.derived(from: "payouts.vendor:\(runID):\(tenant.uuidString.lowercased()):\(vendor.uuidString.lowercased())"), kind: PayoutsVendorJob.kind,
                    queue: PayoutsVendorJob.options.queue, tenant: tenant, argsJSON: args), logger: logger)
            }
            logger.info("payouts fanned out", metadata: ["vendors": "\(vendors.count)"])
        }
    }
}
