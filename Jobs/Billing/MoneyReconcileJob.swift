import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// `money.reconcile` (daily, Schedules/money-reconcile.yaml): checks the money invariants across
/// every tenant (a platform sweep: it reads all and writes no tenant row) and reports what does not
/// match — in the `money_reconciliations` table (one row per run, through the execution ledger) and
/// as the `money.reconcile` check of the status (`GET /v1/status`, `cityos status`) and metrics
/// (`cityos_check_ok`, `cityos_check_mismatches{invariant}`). Mismatches do not fail the job:
/// finding them is its work; they are logged at error level with a few sample rows.
public struct MoneyReconcileJob: JobHandler {
    public typealias Arguments = JSONValue

    public static let kind = "money.reconcile"
    /// How old its check may grow before the status calls it failing (`not_published`): it runs
    /// daily (Schedules/money-reconcile.yaml), and a day and two hours without a run means the money
    /// is no longer checked (the schedule disabled, its jobs dead), which a green check would hide.
    public static let staleAfterSeconds = 26 * 3600
    public static let options = JobOptions(queue: "payments", retry: .exponentialJitter(maxAttempts: 5), timeout: .seconds(600))
    let database: Database?
    let checks: StatusChecks?

    public init(database: Database?, checks: StatusChecks?) {
        self.database = database
        self.checks = checks
    }

    /// Each invariant: a query of the rows that break it (`tenant_id`, `id`), across tenants.
    static let invariants: [(name: String, sql: String)] = [
        // commissions + vendor earnings = the line total: the line's `earning` entry is +total, its
        // `commission` entry −commission with 0 ≤ commission ≤ total; one of each.
        ("commission_split", """
            SELECT l.tenant_id, l.id FROM order_lines l
            WHERE EXISTS (SELECT 1 FROM vendor_ledger_entries x WHERE x.tenant_id = l.tenant_id AND x.order_line_id = l.id)
              AND NOT coalesce((
                SELECT count(*) FILTER (WHERE e.kind = 'earning') = 1 AND count(*) FILTER (WHERE e.kind = 'commission') = 1
                   AND sum(e.amount) FILTER (WHERE e.kind = 'earning') = l.total_amount
                   AND sum(e.amount) FILTER (WHERE e.kind = 'commission') BETWEEN -l.total_amount AND 0
                   AND bool_and(e.currency = l.currency)
                FROM vendor_ledger_entries e WHERE e.tenant_id = l.tenant_id AND e.order_line_id = l.id), false)
            """),
        // A paid payout has one `payout` entry of −its amount; no other payout has one; a pending or
        // paid payout claims entries that sum to its amount.
        ("payout_ledger", """
            SELECT p.tenant_id, p.id FROM payouts p
            LEFT JOIN vendor_ledger_entries e ON e.tenant_id = p.tenant_id AND e.payout_id = p.id
            WHERE (p.status = 'paid' AND (e.id IS NULL OR e.amount <> -p.amount OR e.currency <> p.currency))
               OR (p.status <> 'paid' AND e.id IS NOT NULL)
               OR (p.status <> 'failed' AND p.amount <> (
                   SELECT coalesce(sum(c.amount), 0) FROM payout_items i
                   JOIN vendor_ledger_entries c ON c.tenant_id = i.tenant_id AND c.id = i.entry_id
                   WHERE i.tenant_id = p.tenant_id AND i.payout_id = p.id))
            """),
        // No payout stays pending for more than 25 hours: the daily `payouts.run` resends one until
        // 23 h and settles it from Stripe's record from 23.5 h. One still pending waits for an
        // operator (`cityos payouts settle`; the job's dead letter says what Stripe holds), or the
        // payouts are not running; meanwhile it holds back the vendor's payouts.
        ("payout_left_pending", """
            SELECT p.tenant_id, p.id FROM payouts p WHERE p.status = 'pending' AND p.created_at < now() - interval '25 hours'
            """),
        // No payment attempt stays pending without an answer for more than 25 hours: `payments.retry`
        // resumes one until 23 h and has it settled from Stripe's record from 23.5 h. One still
        // pending was left for an operator (the job's dead letter says what Stripe holds), and its
        // invoice is not chased meanwhile.
        ("attempt_left_pending", """
            SELECT a.tenant_id, a.invoice_id FROM payment_attempts a
            WHERE a.status = 'pending' AND a.payment_intent_id IS NULL AND a.created_at < now() - interval '25 hours'
            """),
        // No open invoice waits on a refusal: its last attempt refused by Stripe for the platform's
        // own request (an amount under Stripe's minimum, a customer not in the account, an amount
        // not in the currency's steps). Nothing chases it, and its subscription is not billed again
        // while it is open, so the customer is served unpaid until an operator acts: fix the setup
        // and replay the `billing.invoice` dead letter, or, when the invoice itself cannot be
        // charged (its amount), cancel the subscription (`subscription.update` with `cancel`, which
        // closes the invoice as uncollectible) and subscribe the customer again. (An attempt that
        // never reached Stripe is refused too, but with its next attempt due at once: not counted,
        // unless that attempt is a day overdue, `payments.retry` not running.)
        ("invoice_refused", """
            SELECT i.tenant_id, i.id FROM invoices i
            WHERE i.status = 'open' AND (i.next_attempt_at IS NULL OR i.next_attempt_at < now() - interval '1 day') AND (
                SELECT a.status FROM payment_attempts a WHERE a.tenant_id = i.tenant_id AND a.invoice_id = i.id
                ORDER BY a.attempt DESC LIMIT 1) = 'refused'
            """),
        // Every paid invoice has a succeeded attempt of its amount and currency, the PaymentIntent it names.
        ("paid_invoice_attempt", """
            SELECT i.tenant_id, i.id FROM invoices i
            WHERE i.status = 'paid' AND NOT EXISTS (
                SELECT 1 FROM payment_attempts a
                WHERE a.tenant_id = i.tenant_id AND a.invoice_id = i.id AND a.status = 'succeeded'
                  AND a.amount = i.amount AND a.currency = i.currency AND a.payment_intent_id = i.payment_intent_id)
            """),
        // A succeeded attempt belongs to a paid invoice, and an invoice is charged successfully once.
        ("attempt_invoice", """
            SELECT a.tenant_id, a.invoice_id FROM payment_attempts a
            JOIN invoices i ON i.tenant_id = a.tenant_id AND i.id = a.invoice_id
            WHERE a.status = 'succeeded'
            GROUP BY a.tenant_id, a.invoice_id
            HAVING count(*) > 1 OR bool_or(i.status <> 'paid')
            """),
        // An active subscription has paid for its current period (unless it has never been billed).
        ("subscription_period", """
            SELECT s.tenant_id, s.id FROM subscriptions s
            WHERE s.current_period_end > s.current_period_start AND NOT EXISTS (
                SELECT 1 FROM invoices i WHERE i.tenant_id = s.tenant_id AND i.subscription_id = s.id AND i.status = 'paid'
                  AND i.period_start = s.current_period_start AND i.period_end = s.current_period_end)
            """),
    ]

    public func run(_ arguments: JSONValue, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let logger = context.logger
        let jobID = context.jobID
        let counted = Counted()
        let outcome = try await ExecutionLedger(database: database).runOnce(jobID: jobID, kind: Self.kind, scope: .platformSweep) { connection in
            for (name, sql) in Self.invariants {
                let (count, samples) = try await Self.count(sql, on: connection, logger: logger)
                counted.invariants[name] = count
                counted.samples += samples
            }
            let check = counted.check(jobID: jobID)
            let report = String(decoding: try JSONEncoder().encode(check), as: UTF8.self)
            try await connection.query("""
                INSERT INTO money_reconciliations (job_id, mismatches, report) VALUES (\(jobID), \(check.mismatches), \(report)::jsonb)
                """, logger: logger)
        }
        let check: StatusCheck
        if outcome == .ran {
            check = counted.check(jobID: jobID)
        } else {
            guard let saved = try await Self.saved(jobID: jobID, database: database, logger: logger) else { return }
            check = saved
        }
        if check.ok {
            logger.info("money reconciled: no mismatch", metadata: ["job_id": "\(jobID)"])
        } else {
            logger.error("money reconciliation found mismatches", metadata: [
                "job_id": "\(jobID)", "mismatches": "\(check.mismatches)",
                "invariants": "\(check.invariants.filter { $0.value > 0 })", "samples": "\(check.samples.joined(separator: ","))"])
        }
        try await checks?.publish(check)
    }

    /// The rows breaking one invariant: how many, and up to 5 as `tenant/id`.
    static func count(_ sql: String, on connection: PostgresConnection, logger: Logger) async throws -> (Int, [String]) {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT count(*)::int8, coalesce((array_agg(q.tenant_id::text || '/' || q.id::text))[1:5], '{}')
            FROM (\(sql)) AS q(tenant_id, id)
            """), logger: logger)
        for try await (count, samples) in rows.decode((Int64, [String]).self) { return (Int(count), samples) }
        return (0, [])
    }

    private static func saved(jobID: String, database: Database, logger: Logger) async throws -> StatusCheck? {
        try await database.withPlatformSweep { connection in
            let rows = try await connection.query("SELECT report::text FROM money_reconciliations WHERE job_id = \(jobID)",
                                                  logger: logger)
            for try await text in rows.decode(String.self) {
                return try? JSONDecoder().decode(StatusCheck.self, from: Data(text.utf8))
            }
            return nil
        }
    }

    /// What the sweep found, filled inside the transaction's closure.
    private final class Counted: @unchecked Sendable {
        // Written only inside the ledger's transaction body, read after it returns.
        var invariants: [String: Int] = [:]
        var samples: [String] = []

        func check(jobID: String) -> StatusCheck {
            StatusCheck(name: MoneyReconcileJob.kind, invariants: invariants, samples: Array(samples.prefix(20)),
                        checkedAt: Int64(Date().timeIntervalSince1970 * 1000), jobID: jobID,
                        staleAfterSeconds: MoneyReconcileJob.staleAfterSeconds)
        }
    }
}
