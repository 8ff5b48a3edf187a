import Foundation
import PostgresNIO
import Queue
import Store

/// `billing.cycle` (daily, Schedules/billing-cycle.yaml): finds, across tenants, the subscriptions
/// due — `active`, of an `active` tenant (a suspended or deleted tenant's customers are not
/// charged), their paid period ended by the billing clock, no invoice open — and fans out one
/// `billing.invoice` per subscription through the outbox. It reads as a platform sweep and writes
/// only the outbox, in one transaction through the execution ledger, so a redelivered cycle fans
/// out nothing twice; a second cycle finds the subscriptions invoiced (their invoice is open or
/// paid, and a paid one moved the period on) and creates nothing — the invoice's uniqueness per
/// subscription and period holds even if two cycles race.
public struct BillingCycleJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        /// Only this tenant's subscriptions (operators, tests); all tenants when absent.
        public var tenantID: UUID?
        enum CodingKeys: String, CodingKey { case tenantID = "tenant_id" }
        public init(tenantID: UUID? = nil) { self.tenantID = tenantID }
    }

    public static let kind = "billing.cycle"
    public static let options = JobOptions(queue: "billing", retry: .exponentialJitter(maxAttempts: 8), timeout: .seconds(300))
    let database: Database?
    let clock: JobClock

    public init(database: Database?, clock: JobClock = .system) {
        self.database = database
        self.clock = clock
    }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let logger = context.logger
        let runID = context.jobID
        let now = clock.now()
        try await ExecutionLedger(database: database).runOnce(jobID: runID, kind: Self.kind, scope: .platformSweep) { connection in
            let rows = try await connection.query("""
                SELECT s.tenant_id, s.id FROM subscriptions s
                JOIN tenants t ON t.id = s.tenant_id AND t.status = 'active'
                WHERE s.status = 'active' AND s.current_period_end <= \(now)
                  AND (\(arguments.tenantID)::uuid IS NULL OR s.tenant_id = \(arguments.tenantID))
                  AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.tenant_id = s.tenant_id AND i.subscription_id = s.id
                                  AND i.status = 'open')
                ORDER BY s.tenant_id, s.id
                """, logger: logger)
            var jobs: [BillingFanOut.Job] = []
            for try await (tenant, subscription) in rows.decode((UUID, UUID).self) {
                jobs.append(.init(id: JobID.derived(from: "billing.invoice:\(runID):\(tenant.uuidString.lowercased()):\(subscription.uuidString.lowercased())"),
                                  tenant: tenant, argsJSON: BillingFanOut.invoiceArgs(subscription)))
            }
            try await BillingFanOut.enqueue(jobs, kind: BillingInvoiceJob.kind, queue: BillingInvoiceJob.options.queue,
                                            on: connection, logger: logger)
            logger.info("billing cycle fanned out", metadata: ["subscriptions": "\(jobs.count)", "now": "\(now)"])
        }
    }
}
