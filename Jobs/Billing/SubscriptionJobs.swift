import Connectors
import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// A plan named by id or by code (`plan_id` or `plan_code`; one of them).
struct PlanReference: Sendable {
    var id: UUID?
    var code: String?

    /// The active plan's id in the transaction's tenant; a missing or inactive plan is a permanent
    /// failure, and so is one whose amount Stripe cannot charge exactly (12.345 KWD: it takes
    /// three-decimal currencies in steps of 0.010): subscribed, its every invoice would be refused,
    /// open for ever, the subscription served unpaid.
    func resolve(on connection: PostgresConnection, logger: Logger) async throws -> UUID {
        guard id != nil || code != nil else { throw JobFailure.permanent("name the plan: plan_id or plan_code") }
        let rows = try await connection.query("""
            SELECT id, code, amount, currency FROM plans WHERE active AND (id = \(id) OR code = \(code)) LIMIT 1
            """, logger: logger)
        for try await (found, code, amount, currency) in rows.decode((UUID, String, Int64, String).self) {
            do {
                _ = try StripeAmount.units(Money(minorUnits: Int(amount), currency: currency))
            } catch {
                throw JobFailure.permanent("plan \(code) cannot be charged: \(error); every invoice of it would be refused. "
                    + "Fix the plan's amount (or use another plan)")
            }
            return found
        }
        throw JobFailure.permanent(BillingError.unknownPlan(id?.uuidString.lowercased() ?? code ?? "?").description)
    }
}

/// `subscription.create` (tenant in the envelope):
/// `{"subscription_id"?, "customer_id": "cus_…", "payment_method": "pm_…", "plan_id" | "plan_code", "start_at"?}`.
/// Creates the subscription once (the execution ledger; the id is `subscription_id`, or derived from
/// the job id), anchored at `start_at` (default: now by the billing clock). Its first period is
/// charged when it starts: at once through the outbox (a `billing.invoice` job) when it starts now
/// or earlier, otherwise by the first `billing.cycle` after it starts.
public struct SubscriptionCreateJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        public var subscriptionID: UUID?
        public var customerID: String
        public var paymentMethod: String
        public var planID: UUID?
        public var planCode: String?
        public var startAt: Date?

        enum CodingKeys: String, CodingKey {
            case subscriptionID = "subscription_id", customerID = "customer_id", paymentMethod = "payment_method"
            case planID = "plan_id", planCode = "plan_code", startAt = "start_at"
        }

        public init(subscriptionID: UUID? = nil, customerID: String, paymentMethod: String, planID: UUID? = nil,
                    planCode: String? = nil, startAt: Date? = nil) {
            self.subscriptionID = subscriptionID
            self.customerID = customerID
            self.paymentMethod = paymentMethod
            self.planID = planID
            self.planCode = planCode
            self.startAt = startAt
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            subscriptionID = try c.decodeIfPresent(UUID.self, forKey: .subscriptionID)
            customerID = try c.decode(String.self, forKey: .customerID)
            paymentMethod = try c.decode(String.self, forKey: .paymentMethod)
            planID = try c.decodeIfPresent(UUID.self, forKey: .planID)
            planCode = try c.decodeIfPresent(String.self, forKey: .planCode)
            if let text = try c.decodeIfPresent(String.self, forKey: .startAt) {
                guard let date = ISO8601DateFormatter().date(from: text) else {
                    throw DecodingError.dataCorruptedError(forKey: .startAt, in: c,
                                                           debugDescription: "start_at must be ISO 8601, e.g. 2026-12-01T00:00:00Z")
                }
                startAt = date
            }
            guard !customerID.isEmpty, !paymentMethod.isEmpty else {
                throw DecodingError.dataCorruptedError(forKey: .customerID, in: c,
                                                       debugDescription: "customer_id and payment_method must not be empty")
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeIfPresent(subscriptionID, forKey: .subscriptionID)
            try c.encode(customerID, forKey: .customerID)
            try c.encode(paymentMethod, forKey: .paymentMethod)
            try c.encodeIfPresent(planID, forKey: .planID)
            try c.encodeIfPresent(planCode, forKey: .planCode)
            try c.encodeIfPresent(startAt.map { ISO8601DateFormatter().string(from: $0) }, forKey: .startAt)
        }
    }

    public static let kind = "subscription.create"
    public static let options = JobOptions(queue: "billing", retry: .exponentialJitter(maxAttempts: 8), timeout: .seconds(30))
    let database: Database?
    let clock: JobClock

    public init(database: Database?, clock: JobClock = .system) {
        self.database = database
        self.clock = clock
    }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let tenant = try JobTenant.required(context)
        let logger = context.logger
        let id = arguments.subscriptionID ?? UUID(uuidString: JobID.derived(from: "subscription:\(context.jobID)")) ?? UUID()
        let now = clock.now()
        let start = arguments.startAt ?? now
        try await ExecutionLedger(database: database).runOnce(jobID: context.jobID, kind: Self.kind, tenant: tenant) { connection in
            let plan = try await PlanReference(id: arguments.planID, code: arguments.planCode).resolve(on: connection, logger: logger)
            // A start a whole period or more ago would bill every past period, one per daily cycle.
            let pastWholePeriod = try await connection.query("""
                SELECT \(start)::timestamptz + CASE interval_unit
                           WHEN 'day' THEN make_interval(days => interval_count)
                           WHEN 'week' THEN make_interval(weeks => interval_count)
                           WHEN 'month' THEN make_interval(months => interval_count)
                           ELSE make_interval(years => interval_count) END <= \(now)
                FROM plans WHERE id = \(plan)
                """, logger: logger)
            for try await stale in pastWholePeriod.decode(Bool.self) where stale {
                throw JobFailure.permanent("""
                    start_at \(ISO8601DateFormatter().string(from: start)) is a whole billing period or more in the past: every \
                    past period would be charged. Give the start of the current period (or no start_at: now)
                    """)
            }
            let inserted = try await connection.query("""
                INSERT INTO subscriptions (tenant_id, id, customer_id, payment_method, plan_id, current_period_start, current_period_end)
                VALUES (\(tenant), \(id), \(arguments.customerID), \(arguments.paymentMethod), \(plan), \(start), \(start))
                ON CONFLICT (tenant_id, id) DO NOTHING RETURNING id
                """, logger: logger)
            var created = false
            for try await _ in inserted { created = true }
            guard created else {
                logger.info("subscription exists already", metadata: ["subscription_id": "\(id)"])
                return
            }
            if start <= now {
                try await Outbox.enqueue(on: connection, job: OutboxJob(
                    jobID: JobID.derived(from: "billing.invoice:first:\(tenant.uuidString.lowercased()):\(id.uuidString.lowercased())"), kind: BillingInvoiceJob.kind,
                    queue: BillingInvoiceJob.options.queue, tenant: tenant, argsJSON: BillingFanOut.invoiceArgs(id)), logger: logger)
            }
            logger.info("subscription created", metadata: ["subscription_id": "\(id)", "plan_id": "\(plan)"])
        }
    }
}

/// `subscription.update` (tenant in the envelope):
/// `{"subscription_id", "plan_id" | "plan_code"?, "payment_method"?, "cancel"?: true}`.
/// A plan change takes effect at the next period not yet invoiced: the next invoice is for the new
/// plan, and the subscription's plan becomes it when that invoice is paid. An invoice already
/// issued (open, maybe being chased) keeps its plan and amount, since a charge for it may be in
/// flight: a change is measured against the plan the subscription will be on once that invoice is
/// paid, so changing back to that plan clears the change, and changing back to the plan before it
/// takes effect at the period after.
/// A new payment method is used from the next attempt on (e.g. after a decline); an open invoice
/// dunning gave up on (its last attempt declined, none left) gets one more attempt. `cancel` ends the
/// subscription now: no further invoices, and an open invoice is not retried (`uncollectible`).
public struct SubscriptionUpdateJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        public var subscriptionID: UUID
        public var planID: UUID?
        public var planCode: String?
        public var paymentMethod: String?
        public var cancel: Bool?

        enum CodingKeys: String, CodingKey {
            case subscriptionID = "subscription_id", planID = "plan_id", planCode = "plan_code"
            case paymentMethod = "payment_method", cancel
        }

        public init(subscriptionID: UUID, planID: UUID? = nil, planCode: String? = nil, paymentMethod: String? = nil,
                    cancel: Bool? = nil) {
            self.subscriptionID = subscriptionID
            self.planID = planID
            self.planCode = planCode
            self.paymentMethod = paymentMethod
            self.cancel = cancel
        }
    }

    public static let kind = "subscription.update"
    public static let options = JobOptions(queue: "billing", retry: .exponentialJitter(maxAttempts: 8), timeout: .seconds(30))
    let database: Database?
    let clock: JobClock

    public init(database: Database?, clock: JobClock = .system) {
        self.database = database
        self.clock = clock
    }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let tenant = try JobTenant.required(context)
        let logger = context.logger
        let now = clock.now()
        try await ExecutionLedger(database: database).runOnce(jobID: context.jobID, kind: Self.kind, tenant: tenant) { connection in
            let rows = try await connection.query("""
                SELECT plan_id, status FROM subscriptions WHERE id = \(arguments.subscriptionID) FOR UPDATE
                """, logger: logger)
            var current: (UUID, String)?
            for try await row in rows.decode((UUID, String).self) { current = row }
            guard let (plan, status) = current else {
                throw JobFailure.permanent(BillingError.unknownSubscription(arguments.subscriptionID).description)
            }
            if arguments.planID != nil || arguments.planCode != nil {
                let next = try await PlanReference(id: arguments.planID, code: arguments.planCode).resolve(on: connection, logger: logger)
                // The plan the subscription is on once its open invoice (if any) is paid.
                let invoiced = try await connection.query("""
                    SELECT plan_id FROM invoices WHERE subscription_id = \(arguments.subscriptionID) AND status = 'open'
                    ORDER BY period_start DESC LIMIT 1
                    """, logger: logger)
                var settled = plan
                for try await open in invoiced.decode(UUID.self) { settled = open }
                let pending: UUID? = next == settled ? nil : next
                try await connection.query("""
                    UPDATE subscriptions SET next_plan_id = \(pending), updated_at = now() WHERE id = \(arguments.subscriptionID)
                    """, logger: logger)
            }
            if let method = arguments.paymentMethod, !method.isEmpty {
                try await connection.query("""
                    UPDATE subscriptions SET payment_method = \(method), updated_at = now() WHERE id = \(arguments.subscriptionID)
                    """, logger: logger)
                // An open invoice dunning gave up on (`final_action: past_due`: no attempt left, its
                // last one declined) is chased once more with the new method, by the next
                // `payments.retry`: nothing else would ever collect it. (Not one whose last attempt
                // Stripe refused for the platform's setup: that waits for an operator.)
                try await connection.query("""
                    UPDATE invoices i SET next_attempt_at = \(now), updated_at = now()
                    WHERE i.subscription_id = \(arguments.subscriptionID) AND i.status = 'open' AND i.next_attempt_at IS NULL
                      AND i.attempt_count > 0
                      AND EXISTS (SELECT 1 FROM payment_attempts a WHERE a.tenant_id = i.tenant_id AND a.invoice_id = i.id
                                  AND a.attempt = i.attempt_count AND a.status = 'failed')
                    """, logger: logger)
            }
            if arguments.cancel == true, status != "canceled" {
                try await connection.query("""
                    UPDATE subscriptions SET status = 'canceled', canceled_at = \(now), updated_at = now()
                    WHERE id = \(arguments.subscriptionID)
                    """, logger: logger)
                // Dunning stops: an open invoice is not retried (a charge already in flight may still pay it).
                try await connection.query("""
                    UPDATE invoices SET status = 'uncollectible', next_attempt_at = NULL, last_failure = 'subscription canceled',
                        updated_at = now()
                    WHERE subscription_id = \(arguments.subscriptionID) AND status = 'open'
                    """, logger: logger)
            }
        }
    }
}
