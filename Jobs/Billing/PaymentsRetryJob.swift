import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// `payments.retry {"batch_size": 2000}` (every 15 minutes, Schedules/payment-retries.yaml): finds,
/// across tenants, the open invoices whose next dunning attempt is due by the billing clock (of
/// `active` tenants: a suspended or deleted tenant's customers are not chased), and
/// fans out one `billing.invoice` per invoice through the outbox (job id from the invoice, the
/// attempt, the day and when the tenant's status last changed, so overlapping runs enqueue each
/// attempt once a day, and a job that found the tenant suspended, and made no attempt, does not keep
/// the attempt from being fanned out again once the tenant is active: the relay drops an id it has
/// seen for 7 days). At most `batch_size` per run, oldest
/// due first; the rest are found by the next run. It also resumes, once each, attempts left pending
/// for over an hour (see ``stuck(after:tenant:limit:on:logger:)``).
public struct PaymentsRetryJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        public var batchSize: Int?
        public var tenantID: UUID?
        /// A pending attempt older than this (real time, seconds; default 3600) is resumed once.
        public var stuckAfterSeconds: Int?
        enum CodingKeys: String, CodingKey {
            case batchSize = "batch_size", tenantID = "tenant_id", stuckAfterSeconds = "stuck_after_seconds"
        }
        public init(batchSize: Int? = nil, tenantID: UUID? = nil, stuckAfterSeconds: Int? = nil) {
            self.batchSize = batchSize
            self.tenantID = tenantID
            self.stuckAfterSeconds = stuckAfterSeconds
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
                SELECT i.tenant_id, i.subscription_id, i.id, i.attempt_count,
                       (extract(epoch FROM t.status_changed_at) * 1000)::int8
                FROM invoices i JOIN tenants t ON t.id = i.tenant_id AND t.status = 'active'
                WHERE i.status = 'open' AND i.next_attempt_at <= \(now)
                  AND (\(arguments.tenantID)::uuid IS NULL OR i.tenant_id = \(arguments.tenantID))
                ORDER BY i.next_attempt_at, i.tenant_id, i.id LIMIT \(batch)
                """, logger: logger)
            var jobs: [BillingFanOut.Job] = []
            // The day is in the id too: a job of this attempt whose dead letter was deleted (or
            // dropped by the cap) holds the invoice back a day at most, not the relay's 7 days.
            let day = Int64((now.timeIntervalSince1970 / 86_400).rounded(.down))
            for try await (tenant, subscription, invoice, count, changed) in rows.decode((UUID, UUID, UUID, Int, Int64?).self) {
                // A tenant whose status changed (suspended, then active again) gets a new id: the job
                // fanned out before the suspension may have run during it and made no attempt.
                let id = "billing.invoice:\(tenant.uuidString.lowercased()):\(invoice.uuidString.lowercased()):attempt:\(count + 1)"
                    + ":day:\(day)" + (changed.map { ":status:\($0)" } ?? "")
                jobs.append(.init(id: JobID.derived(from: id), tenant: tenant, argsJSON: BillingFanOut.invoiceArgs(subscription)))
            }
            jobs += try await Self.stuck(after: arguments.stuckAfterSeconds ?? 3_600, tenant: arguments.tenantID, limit: batch,
                                         runID: runID, on: connection, logger: logger)
            try await BillingFanOut.enqueue(jobs, kind: BillingInvoiceJob.kind, queue: BillingInvoiceJob.options.queue,
                                            on: connection, logger: logger)
            logger.info("payment retries fanned out", metadata: ["invoices": "\(jobs.count)", "now": "\(now)"])
        }
    }

    /// Attempts left `pending` for longer than `after` seconds:
    /// - whose answer never came (their job died in the dead letters), less than 23 hours old: each is
    ///   resumed once (job id from the attempt), with its own idempotency key, so Stripe answers what
    ///   it answered the first time;
    /// - the same from 23.5 hours (past Stripe's idempotency window, never sent again) to 7 days: each
    ///   is settled from Stripe's record (``BillingInvoiceJob``), once a week at most (the job id is
    ///   taken for 7 days), in a batch of its own so that attempts left for an operator never hold
    ///   back the others; older ones are an operator's (`money.reconcile`: `attempt_left_pending`);
    /// - the same on an invoice closed meanwhile (`uncollectible`: the subscription canceled while
    ///   the charge was in flight): never resumed, only read or settled from Stripe's record, so that
    ///   money taken is booked;
    /// - that Stripe answered as still settling (`processing`, or `requires_action` waiting for a
    ///   payment the customer makes later; its PaymentIntent kept on the attempt) and whose webhook
    ///   has not come: each run has the PaymentIntent read again (job id from the attempt and this
    ///   run), however old, until it settles (or, waiting for the customer, until a week has passed).
    private static func stuck(after seconds: Int, tenant: UUID?, limit: Int, runID: String, on connection: PostgresConnection,
                              logger: Logger) async throws -> [BillingFanOut.Job] {
        var jobs: [BillingFanOut.Job] = []
        for expired in [false, true] {
            // An invoice closed while its charge was in flight (the subscription canceled) is never
            // resumed (a resend could charge for a subscription that has ended): only read or settled.
            let window = expired
                ? "a.payment_intent_id IS NULL AND a.created_at <= now() - interval '23 hours 30 minutes' "
                    + "AND a.created_at > now() - interval '7 days'"
                : "(a.payment_intent_id IS NOT NULL OR a.created_at > now() - interval '23 hours')"
            var binds = PostgresBindings()
            binds.append(Double(seconds))
            binds.append(tenant)
            binds.append(limit)
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT i.tenant_id, i.subscription_id, i.id, i.attempt_count, a.payment_intent_id IS NOT NULL FROM invoices i
                JOIN payment_attempts a ON a.tenant_id = i.tenant_id AND a.invoice_id = i.id AND a.attempt = i.attempt_count
                WHERE i.next_attempt_at IS NULL AND a.status = 'pending'
                  AND (i.status = 'open' OR (i.status = 'uncollectible' AND (a.payment_intent_id IS NOT NULL OR \(expired))))
                  AND a.created_at <= now() - make_interval(secs => $1) AND \(window)
                  AND ($2::uuid IS NULL OR i.tenant_id = $2)
                ORDER BY a.created_at LIMIT $3
                """, binds: binds), logger: logger)
            for try await (tenant, subscription, invoice, attempt, settling) in rows.decode((UUID, UUID, UUID, Int, Bool).self) {
                let base = "billing.invoice:\(tenant.uuidString.lowercased()):\(invoice.uuidString.lowercased()):attempt:\(attempt)"
                let id = settling ? "\(base):check:\(runID)" : expired ? "\(base):settle" : "\(base):resume"
                jobs.append(.init(id: JobID.derived(from: id), tenant: tenant, argsJSON: BillingFanOut.invoiceArgs(subscription)))
            }
        }
        return jobs
    }
}
