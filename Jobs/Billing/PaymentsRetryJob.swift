import Foundation
import PostgresNIO
import Queue
import Store

/// `payments.retry {"batch_size": 2000}` (every 15 minutes, Schedules/payment-retries.yaml): finds,
/// across tenants, the open invoices whose next dunning attempt is due by the billing clock, and
/// fans out one `billing.invoice` per invoice through the outbox (job id from the invoice and the
/// attempt, so overlapping runs enqueue each attempt once). At most `batch_size` per run, oldest
/// due first; the rest are found by the next run.
public struct PaymentsRetryJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        public var batchSize: Int?
        public var tenantID: UUID?
        enum CodingKeys: String, CodingKey { case batchSize = "batch_size", tenantID = "tenant_id" }
        public init(batchSize: Int? = nil, tenantID: UUID? = nil) {
            self.batchSize = batchSize
            self.tenantID = tenantID
        }
    }

    public static let kind = "payments.retry"
    public static let options = JobOptions(queue: "payments", retry: .exponentialJitter(maxAttempts: 8), timeout: .seconds(120))
    public static let defaultBatchSize = 2_000
    let database: Database?
    let clock: JobClock

    public init(database: Database?, clock: JobClock = .system) {
        self.database = database
        self.clock = clock
    }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let batch = arguments.batchSize ?? Self.defaultBatchSize
        guard (1...10_000).contains(batch) else { throw JobFailure.permanent("batch_size must be 1...10000 (got \(batch))") }
        let logger = context.logger
        let runID = context.jobID
        let now = clock.now()
        try await ExecutionLedger(database: database).runOnce(jobID: runID, kind: Self.kind, scope: .platformSweep) { connection in
            let rows = try await connection.query("""
                SELECT tenant_id, subscription_id, id, attempt_count FROM invoices
                WHERE status = 'open' AND next_attempt_at <= \(now)
                  AND (\(arguments.tenantID)::uuid IS NULL OR tenant_id = \(arguments.tenantID))
                ORDER BY next_attempt_at, tenant_id, id LIMIT \(batch)
                """, logger: logger)
            var jobs: [BillingFanOut.Job] = []
            for try await (tenant, subscription, invoice, count) in rows.decode((UUID, UUID, UUID, Int).self) {
                jobs.append(.init(id: JobID.derived(from: "billing.invoice:\(invoice.uuidString.lowercased()):attempt:\(count + 1)"),
                                  tenant: tenant, argsJSON: BillingFanOut.invoiceArgs(subscription)))
            }
            try await BillingFanOut.enqueue(jobs, kind: BillingInvoiceJob.kind, queue: BillingInvoiceJob.options.queue,
                                            on: connection, logger: logger)
            logger.info("payment retries fanned out", metadata: ["invoices": "\(jobs.count)", "now": "\(now)"])
        }
    }
}
