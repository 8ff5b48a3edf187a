import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// One payment attempt of an invoice, committed as `pending` before Stripe is called.
public struct ChargeAttempt: Sendable, Equatable {
    public var invoiceID: UUID
    public var subscriptionID: UUID
    public var attempt: Int
    public var amount: Int64
    public var currency: String
    public var customer: String
    public var paymentMethod: String
    /// The PaymentIntent Stripe answered for this attempt while it was still settling
    /// (`processing`): a resumed attempt reads it (`GET`) rather than sending the request again,
    /// which Stripe would answer with its stored first answer, `processing`, forever.
    public var paymentIntentID: String? = nil
    /// Set when the attempt has been pending without a PaymentIntent for this long (seconds), past
    /// Stripe's idempotency window: it is never sent again, but settled from Stripe's record.
    public var pendingSeconds: Double? = nil
    /// When the attempt was made (Unix seconds, PostgreSQL's clock), with ``pendingSeconds``.
    public var madeAt: Double? = nil
    /// Its invoice is closed (`uncollectible`: the subscription was canceled while the charge was in
    /// flight): the attempt is settled, never resent, and gets no next attempt.
    public var onClosedInvoice = false

    /// Stripe's idempotency key: the invoice and the attempt, so a redelivered job (any process)
    /// repeats this attempt's PaymentIntent instead of making a second one.
    public var idempotencyKey: String { "invoice_\(invoiceID.uuidString.lowercased())_attempt_\(attempt)" }
}

/// What applying an outcome did.
public enum AttemptRecord: Sendable, Equatable {
    /// The outcome moved the attempt (and maybe its invoice and subscription) forward.
    case applied
    /// Nothing to move: the attempt was already settled that way or later, or is unknown.
    case unchanged
}

/// The invoices and payment attempts of subscriptions, in short transactions of one tenant (see
/// ``BillingInvoiceJob``): ``prepare(tenant:subscription:now:)`` opens the period's invoice and its
/// next attempt; ``recordSucceeded(_:)`` and ``recordFailed(_:)`` apply an attempt's outcome,
/// whether it comes from Stripe's answer or from a webhook, in any order, never moving a state back.
/// Every transaction that writes more than one row locks the subscription first (then its invoice,
/// then the attempt), as `prepare` and `subscription.update` do: in another order, an outcome
/// racing a `prepare` of the same subscription could deadlock, and PostgreSQL would abort one.
struct InvoiceBook {
    let database: Database
    let logger: Logger
    /// A pending attempt older than this (real time) is not sent again: Stripe keeps idempotency
    /// keys 24 hours, so a later resend of a request that did reach Stripe would charge twice.
    var resendLimitSeconds: Double = 23 * 3600
    /// A pending attempt at least this old is settled from Stripe's record instead: every send of it
    /// began before the resend limit and has long ended. In between, it waits.
    var settleAfterSeconds: Double = 23.5 * 3600

    /// The attempt to make now for `subscription`, or nil when none is due. In one transaction:
    /// creates the invoice of the next period if the subscription is due (`active`, period ended by
    /// `now`; unique per subscription and period, so a second run creates none), then on the
    /// subscription's open invoice either resumes an attempt left `pending` (a crash or a timeout:
    /// Stripe replays it by its idempotency key) or adds the next attempt if it is due. Without an
    /// open invoice, an attempt left pending on a closed one is settled (``pendingOnClosed``).
    func prepare(tenant: UUID, subscription: UUID, now: Date) async throws -> ChargeAttempt? {
        let logger = self.logger
        let (resendLimit, settleAfter) = (resendLimitSeconds, max(settleAfterSeconds, resendLimitSeconds))
        return try await database.withTenant(tenant) { connection in
            let subscriptions = try await connection.query("""
                SELECT customer_id, payment_method,
                       coalesce((SELECT t.status = 'active' FROM tenants t WHERE t.id = subscriptions.tenant_id), false),
                       current_period_end
                FROM subscriptions WHERE id = \(subscription) FOR UPDATE
                """, logger: logger)
            var payer: (String, String, Bool, Date)?
            for try await row in subscriptions.decode((String, String, Bool, Date).self) { payer = row }
            guard let (customer, method, tenantActive, paidUntil) = payer else {
                throw JobFailure.permanent(BillingError.unknownSubscription(subscription).description)
            }
            // A suspended or deleted tenant's customers get no new invoice and no new attempt; an
            // attempt already under way is still resumed or settled below.
            let charges = tenantActive
            // The next period from the end of the one paid; but when that period began during the
            // tenant's latest suspension (after `tenants.inactive_since`, before it was active again
            // at `status_changed_at`: migrations 0018, 0019), its customers are invoiced from the
            // period in progress when the tenant came back, not for each period of the suspension,
            // one charge a day. Periods that began while the tenant was active (an invoice paid
            // late, billing stopped a while) are invoiced period by period.
            let created = try await connection.query("""
                INSERT INTO invoices (tenant_id, id, subscription_id, plan_id, period_start, period_end, amount, currency)
                SELECT s.tenant_id, \(UUID()), s.id, p.id, due.start, due.start + step.length, p.amount, p.currency
                FROM subscriptions s JOIN plans p ON p.tenant_id = s.tenant_id AND p.id = coalesce(s.next_plan_id, s.plan_id)
                JOIN tenants t ON t.id = s.tenant_id
                CROSS JOIN LATERAL (SELECT CASE p.interval_unit
                           WHEN 'day' THEN make_interval(days => p.interval_count)
                           WHEN 'week' THEN make_interval(weeks => p.interval_count)
                           WHEN 'month' THEN make_interval(months => p.interval_count)
                           ELSE make_interval(years => p.interval_count) END AS length) step
                CROSS JOIN LATERAL (SELECT max(b) AS start
                                    FROM generate_series(s.current_period_end,
                                                         CASE WHEN t.inactive_since <= s.current_period_end
                                                                   AND t.status_changed_at > s.current_period_end
                                                              THEN least(t.status_changed_at, \(now)::timestamptz)
                                                              ELSE s.current_period_end END,
                                                         step.length) b) due
                WHERE s.id = \(subscription) AND s.status = 'active' AND s.current_period_end <= \(now) AND \(charges)
                  AND NOT EXISTS (SELECT 1 FROM invoices o WHERE o.subscription_id = s.id AND o.status = 'open')
                ON CONFLICT (tenant_id, subscription_id, period_start) DO NOTHING
                RETURNING period_start
                """, logger: logger)
            for try await start in created.decode(Date.self) where start > paidUntil {
                logger.notice("tenant active again: its subscription is invoiced from the period in progress when it came back; the periods of the suspension are not charged",
                              metadata: ["subscription_id": "\(subscription)", "paid_until": "\(paidUntil)", "period_start": "\(start)"])
            }
            let invoices = try await connection.query("""
                SELECT id, amount, currency, attempt_count, next_attempt_at FROM invoices
                WHERE subscription_id = \(subscription) AND status = 'open' ORDER BY period_start LIMIT 1 FOR UPDATE
                """, logger: logger)
            var open: (UUID, Int64, String, Int, Date?)?
            for try await row in invoices.decode((UUID, Int64, String, Int, Date?).self) { open = row }
            guard let (invoice, amount, currency, count, nextAt) = open else {
                return try await Self.pendingOnClosed(subscription: subscription, customer: customer, method: method,
                                                      settleAfter: settleAfter, on: connection, logger: logger)
            }
            var attempt = ChargeAttempt(invoiceID: invoice, subscriptionID: subscription, attempt: count, amount: amount,
                                        currency: currency, customer: customer, paymentMethod: method)
            let latest = count > 0 ? try await Self.latest(of: invoice, attempt: count, on: connection, logger: logger) : nil
            if let latest, latest.status == "pending" {
                // The payer the attempt was first sent with: a resend under its key must repeat it.
                if let payer = latest.payer {
                    attempt.customer = payer.customer
                    attempt.paymentMethod = payer.method
                }
                // Stripe answered with a PaymentIntent still settling: read it, however old.
                if let intent = latest.paymentIntentID {
                    attempt.paymentIntentID = intent
                    return attempt
                }
                let age = latest.ageSeconds
                if age <= resendLimit { return attempt }   // resumed with the same idempotency key
                // Past Stripe's 24-hour idempotency window a resend could charge twice: never sent
                // again. Settled from Stripe's record once every send has ended; until then it waits.
                guard age >= settleAfter else {
                    logger.info("payment attempt past the resend limit waits until Stripe's record can settle it", metadata: [
                        "invoice_id": "\(invoice)", "attempt": "\(count)", "age_hours": "\(Int(age / 3600))"])
                    return nil
                }
                attempt.pendingSeconds = age
                attempt.madeAt = latest.madeAt
                return attempt
            }
            // A refused attempt charged nothing and waits for an operator: running the invoice's job
            // again (after the fix) makes the next attempt at once.
            let refused = latest?.status == "refused"
            guard charges, count == 0 || refused || (nextAt.map { $0 <= now } ?? false) else { return nil }
            attempt.attempt = count + 1
            try await connection.query("""
                INSERT INTO payment_attempts (tenant_id, id, invoice_id, attempt, idempotency_key, amount, currency,
                                              customer_id, payment_method)
                VALUES (\(tenant), \(UUID()), \(invoice), \(attempt.attempt), \(attempt.idempotencyKey), \(amount), \(currency),
                        \(customer), \(method))
                """, logger: logger)
            try await connection.query("""
                UPDATE invoices SET attempt_count = \(attempt.attempt), next_attempt_at = NULL, updated_at = now()
                WHERE id = \(invoice)
                """, logger: logger)
            return attempt
        }
    }

    /// An attempt left pending on an invoice no longer open (`uncollectible`: the subscription was
    /// canceled while the charge was in flight, its answer lost). Never sent again, not even under its
    /// own key: if the first send never reached Stripe, a resend would charge now for a subscription
    /// that has ended. But it is read (its PaymentIntent, when Stripe answered with one still settling)
    /// or, from `settleAfter` on, settled from Stripe's record, so that money taken is booked (the
    /// invoice becomes paid) and nothing stays pending for ever. Its invoice gets no next attempt.
    private static func pendingOnClosed(subscription: UUID, customer: String, method: String, settleAfter: Double,
                                        on connection: PostgresConnection, logger: Logger) async throws -> ChargeAttempt? {
        let rows = try await connection.query("""
            SELECT id, amount, currency, attempt_count FROM invoices
            WHERE subscription_id = \(subscription) AND status = 'uncollectible' AND attempt_count > 0
            ORDER BY period_start DESC LIMIT 10
            """, logger: logger)
        var closed: [(UUID, Int64, String, Int)] = []
        for try await row in rows.decode((UUID, Int64, String, Int).self) { closed.append(row) }
        for (invoice, amount, currency, count) in closed {
            guard let latest = try await latest(of: invoice, attempt: count, on: connection, logger: logger),
                  latest.status == "pending" else { continue }
            var attempt = ChargeAttempt(invoiceID: invoice, subscriptionID: subscription, attempt: count, amount: amount,
                                        currency: currency, customer: latest.payer?.customer ?? customer,
                                        paymentMethod: latest.payer?.method ?? method)
            attempt.onClosedInvoice = true
            if let intent = latest.paymentIntentID {
                attempt.paymentIntentID = intent
                return attempt
            }
            guard latest.ageSeconds >= settleAfter else {
                logger.info("payment attempt pending on a closed invoice waits until Stripe's record can settle it", metadata: [
                    "invoice_id": "\(invoice)", "attempt": "\(count)", "age_hours": "\(Int(latest.ageSeconds / 3600))"])
                continue
            }
            attempt.pendingSeconds = latest.ageSeconds
            attempt.madeAt = latest.madeAt
            return attempt
        }
        return nil
    }

    /// Keeps the PaymentIntent of an attempt Stripe answered as still settling (`processing`), so
    /// that a resume reads it instead of sending the request again.
    func noteSettling(_ attempt: ChargeAttempt, tenant: UUID, paymentIntentID: String) async throws {
        let logger = self.logger
        try await database.withTenant(tenant) { connection in
            try await connection.query("""
                UPDATE payment_attempts SET payment_intent_id = coalesce(payment_intent_id, \(paymentIntentID))
                WHERE invoice_id = \(attempt.invoiceID) AND attempt = \(attempt.attempt) AND status = 'pending'
                """, logger: logger)
        }
    }

    /// What ``prepare`` needs of an invoice's latest attempt.
    private struct LatestAttempt {
        var status: String
        /// Seconds since it was made (real time, read now: not the transaction's start, which a wait
        /// for the subscription's lock would leave behind).
        var ageSeconds: Double
        /// When it was made, Unix seconds.
        var madeAt: Double
        /// Who it charges; nil for attempts made before the payer was stored.
        var payer: (customer: String, method: String)?
        /// The PaymentIntent Stripe answered for it, if one is kept (a pending one: still settling).
        var paymentIntentID: String?
    }

    private static func latest(of invoice: UUID, attempt: Int, on connection: PostgresConnection,
                               logger: Logger) async throws -> LatestAttempt? {
        let rows = try await connection.query("""
            SELECT status, extract(epoch FROM clock_timestamp() - created_at)::float8, extract(epoch FROM created_at)::float8,
                   customer_id, payment_method, payment_intent_id
            FROM payment_attempts WHERE invoice_id = \(invoice) AND attempt = \(attempt)
            """, logger: logger)
        for try await (status, age, made, customer, method, intent)
            in rows.decode((String, Double, Double, String?, String?, String?).self) {
            let payer = customer.flatMap { customer in method.map { (customer: customer, method: $0) } }
            return LatestAttempt(status: status, ageSeconds: age, madeAt: made, payer: payer, paymentIntentID: intent)
        }
        return nil
    }

    /// A succeeded PaymentIntent of an attempt.
    struct Success: Sendable {
        var tenant: UUID
        var invoiceID: UUID
        var attempt: Int
        var paymentIntentID: String
        var amount: Int
        var currency: String
        var at: Date
    }

    /// The attempt becomes `succeeded` (from `pending`, or from `failed` if Stripe says otherwise
    /// later); its invoice becomes `paid` (from `open` or `uncollectible`: the money was taken) and
    /// the subscription moves to the invoice's period, on the invoice's plan, `active` again unless
    /// canceled. A success of another amount than the attempt's is not booked: it throws for an operator.
    @discardableResult
    func recordSucceeded(_ success: Success) async throws -> AttemptRecord {
        let logger = self.logger
        return try await database.withTenant(success.tenant) { connection in
            try await Self.lockSubscription(ofInvoice: success.invoiceID, on: connection, logger: logger)
            let attempts = try await connection.query("""
                SELECT amount, currency, status FROM payment_attempts
                WHERE invoice_id = \(success.invoiceID) AND attempt = \(success.attempt) FOR UPDATE
                """, logger: logger)
            var found: (Int64, String, String)?
            for try await row in attempts.decode((Int64, String, String).self) { found = row }
            guard let (amount, currency, status) = found else { return .unchanged }
            guard amount == Int64(success.amount), currency.lowercased() == success.currency.lowercased() else {
                throw JobFailure.permanent(BillingError.amountMismatch(invoice: success.invoiceID, expected: amount,
                                                                       charged: success.amount).description)
            }
            var changed = false
            if status != "succeeded" {
                try await connection.query("""
                    UPDATE payment_attempts SET status = 'succeeded', payment_intent_id = \(success.paymentIntentID),
                        settled_at = \(success.at)
                    WHERE invoice_id = \(success.invoiceID) AND attempt = \(success.attempt)
                    """, logger: logger)
                changed = true
            }
            let paid = try await connection.query("""
                UPDATE invoices SET status = 'paid', paid_at = \(success.at), payment_intent_id = \(success.paymentIntentID),
                    next_attempt_at = NULL, updated_at = now()
                WHERE id = \(success.invoiceID) AND status <> 'paid'
                RETURNING subscription_id, plan_id, period_start, period_end
                """, logger: logger)
            var period: (UUID, UUID, Date, Date)?
            for try await row in paid.decode((UUID, UUID, Date, Date).self) { period = row }
            if let (subscription, plan, start, end) = period {
                changed = true
                try await connection.query("""
                    UPDATE subscriptions SET current_period_start = \(start), current_period_end = \(end), plan_id = \(plan),
                        next_plan_id = CASE WHEN next_plan_id = \(plan) THEN NULL ELSE next_plan_id END,
                        status = CASE WHEN status = 'canceled' THEN status ELSE 'active' END, updated_at = now()
                    WHERE id = \(subscription) AND current_period_end < \(end)
                    """, logger: logger)
            }
            return changed ? .applied : .unchanged
        }
    }

    /// A declined (or otherwise failed) PaymentIntent of an attempt.
    struct Failure: Sendable {
        var tenant: UUID
        var invoiceID: UUID
        var attempt: Int
        var paymentIntentID: String?
        var declineCode: String?
        var message: String
        var at: Date
    }

    /// The attempt becomes `failed` (only from `pending`: a failure never overrides a success, and
    /// is applied once). If it was the invoice's latest attempt and the invoice is still open, the
    /// tenant's dunning policy decides: the next attempt's time (the subscription is `past_due`
    /// meanwhile), or — after the last attempt, or at once for a hard decline — the final action.
    @discardableResult
    func recordFailed(_ failure: Failure) async throws -> AttemptRecord {
        let logger = self.logger
        return try await database.withTenant(failure.tenant) { connection in
            try await Self.lockSubscription(ofInvoice: failure.invoiceID, on: connection, logger: logger)
            let settled = try await connection.query("""
                UPDATE payment_attempts SET status = 'failed', payment_intent_id = coalesce(payment_intent_id, \(failure.paymentIntentID)),
                    decline_code = \(failure.declineCode), failure_message = \(failure.message), settled_at = \(failure.at)
                WHERE invoice_id = \(failure.invoiceID) AND attempt = \(failure.attempt) AND status = 'pending'
                RETURNING attempt
                """, logger: logger)
            var applied = false
            for try await _ in settled { applied = true }
            guard applied else { return .unchanged }
            let invoices = try await connection.query("""
                SELECT i.subscription_id, i.status, i.attempt_count, i.first_failed_at, t.settings::text
                FROM invoices i JOIN tenants t ON t.id = i.tenant_id
                WHERE i.id = \(failure.invoiceID) FOR UPDATE OF i
                """, logger: logger)
            var row: (UUID, String, Int, Date?, String)?
            for try await found in invoices.decode((UUID, String, Int, Date?, String).self) { row = found }
            guard let (subscription, status, count, firstFailed, settings) = row,
                  status == "open", count == failure.attempt else { return .applied }
            let (policy, problems) = DunningPolicy.read(settingsJSON: settings)
            let first = firstFailed ?? failure.at
            // Dunning counts the customer's failures only, not attempts Stripe refused (`recordRefused`).
            var declines = failure.attempt
            for try await counted in try await connection.query("""
                SELECT count(*)::int FROM payment_attempts WHERE invoice_id = \(failure.invoiceID) AND status = 'failed'
                """, logger: logger).decode(Int.self) { declines = counted }
            let next = policy.nextAttempt(after: declines, firstFailedAt: first, declineCode: failure.declineCode)
            var reason = "attempt \(failure.attempt): \(failure.declineCode ?? "failed") — \(failure.message)"
            if !problems.isEmpty {
                // Dunning goes on with the fallbacks; the invoice and the log say which setting to fix.
                let note = "tenant setting: " + problems.joined(separator: "; ")
                logger.warning("dunning setting ignored", metadata: ["tenant": "\(failure.tenant)", "problem": "\(note)"])
                reason += " [\(note)]"
            }
            if let next {
                try await Self.scheduleRetry(invoice: failure.invoiceID, subscription: subscription, at: next, firstFailed: first,
                                             reason: reason, on: connection, logger: logger)
            } else {
                try await Self.giveUp(invoice: failure.invoiceID, subscription: subscription, policy: policy, firstFailed: first,
                                      reason: reason, at: failure.at, on: connection, logger: logger)
            }
            return .applied
        }
    }

    /// The attempt becomes `refused` (only from `pending`): Stripe turned the request down for a
    /// reason the customer cannot fix (the platform's request or account), so nothing was charged.
    /// Dunning does not count it and the subscription keeps its status; if it was the invoice's
    /// latest attempt, the invoice stays open without a next attempt, its `last_failure` saying
    /// why, until an operator runs its job again (``prepare`` then makes the next attempt at once).
    @discardableResult
    func recordRefused(_ refusal: Failure) async throws -> AttemptRecord {
        try await refuse(refusal, reason: "attempt \(refusal.attempt) refused by Stripe, nothing charged: \(refusal.message)",
                         nextAttemptAt: nil)
    }

    /// An attempt that never reached Stripe (settled from its record: no PaymentIntent under its
    /// key): nothing was charged and the customer is not at fault, so it is `refused` (dunning does
    /// not count it) and the invoice's next attempt is due at once, under a new key.
    func recordNeverMade(tenant: UUID, invoiceID: UUID, attempt: Int, message: String, at: Date) async throws -> AttemptRecord {
        try await refuse(.init(tenant: tenant, invoiceID: invoiceID, attempt: attempt, paymentIntentID: nil,
                               declineCode: "attempt_never_made", message: message, at: at),
                         reason: "attempt \(attempt) never reached Stripe, nothing charged: \(message)", nextAttemptAt: at,
                         withoutPaymentIntent: true)
    }

    /// The attempt becomes `refused` (only from `pending`, and without a PaymentIntent kept when
    /// `withoutPaymentIntent`); if it is the open invoice's latest, the invoice's `last_failure`
    /// says `reason` and its next attempt is due at `nextAttemptAt` (nil: when an operator runs it).
    private func refuse(_ refusal: Failure, reason: String, nextAttemptAt: Date?,
                        withoutPaymentIntent: Bool = false) async throws -> AttemptRecord {
        let logger = self.logger
        return try await database.withTenant(refusal.tenant) { connection in
            try await Self.lockSubscription(ofInvoice: refusal.invoiceID, on: connection, logger: logger)
            let settled = try await connection.query("""
                UPDATE payment_attempts SET status = 'refused', decline_code = \(refusal.declineCode),
                    failure_message = \(refusal.message), settled_at = \(refusal.at)
                WHERE invoice_id = \(refusal.invoiceID) AND attempt = \(refusal.attempt) AND status = 'pending'
                  AND (NOT \(withoutPaymentIntent) OR payment_intent_id IS NULL)
                RETURNING attempt
                """, logger: logger)
            var applied = false
            for try await _ in settled { applied = true }
            guard applied else { return .unchanged }
            try await connection.query("""
                UPDATE invoices SET next_attempt_at = \(nextAttemptAt), last_failure = \(reason), updated_at = now()
                WHERE id = \(refusal.invoiceID) AND status = 'open' AND attempt_count = \(refusal.attempt)
                """, logger: logger)
            return .applied
        }
    }

    /// Locks the subscription of `invoice` (see the type's comment: the subscription first).
    private static func lockSubscription(ofInvoice invoice: UUID, on connection: PostgresConnection,
                                         logger: Logger) async throws {
        try await connection.query("""
            SELECT 1 FROM subscriptions s
            WHERE s.id = (SELECT i.subscription_id FROM invoices i WHERE i.id = \(invoice))
            FOR UPDATE OF s
            """, logger: logger)
    }

    private static func scheduleRetry(invoice: UUID, subscription: UUID, at next: Date, firstFailed: Date, reason: String,
                                      on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE invoices SET next_attempt_at = \(next), first_failed_at = \(firstFailed), last_failure = \(reason),
                updated_at = now()
            WHERE id = \(invoice)
            """, logger: logger)
        try await connection.query("""
            UPDATE subscriptions SET status = 'past_due', updated_at = now() WHERE id = \(subscription) AND status = 'active'
            """, logger: logger)
    }

    private static func giveUp(invoice: UUID, subscription: UUID, policy: DunningPolicy, firstFailed: Date, reason: String,
                               at: Date, on connection: PostgresConnection, logger: Logger) async throws {
        let invoiceStatus = policy.finalAction == .pastDue ? "open" : "uncollectible"
        try await connection.query("""
            UPDATE invoices SET status = \(invoiceStatus), next_attempt_at = NULL, first_failed_at = \(firstFailed),
                last_failure = \(reason), updated_at = now()
            WHERE id = \(invoice)
            """, logger: logger)
        switch policy.finalAction {
        case .cancel:
            try await connection.query("""
                UPDATE subscriptions SET status = 'canceled', canceled_at = \(at), updated_at = now()
                WHERE id = \(subscription) AND status <> 'canceled'
                """, logger: logger)
        case .unpaid:
            try await connection.query("""
                UPDATE subscriptions SET status = 'unpaid', updated_at = now()
                WHERE id = \(subscription) AND status IN ('active', 'past_due')
                """, logger: logger)
        case .pastDue:
            try await connection.query("""
                UPDATE subscriptions SET status = 'past_due', updated_at = now() WHERE id = \(subscription) AND status = 'active'
                """, logger: logger)
        }
    }
}
