import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// `commission.reverse` (on a refund or a cancellation): appends, for each `earning` and
/// `commission` entry of the order's lines (all of them, or `line_ids`), a `reversal` entry of the
/// opposite amount. Entries are never edited; each is reversed at most once (unique `reverses`).
///
/// Reversals count at once (their `occurred_at` is now, not held): a refund lowers the payable
/// balance immediately. If the line was already paid out, the vendor's balance goes negative and
/// the next payouts net it off. A reversal that arrives before its order is booked is kept
/// (`early_reversals`) and applied by `commission.calculate` when it books the order.
public struct CommissionReverseJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        public enum Reason: String, Codable, Sendable { case refund, cancellation }
        public var orderID: UUID
        /// The lines to reverse; nil for the whole order.
        public var lineIDs: [UUID]?
        public var reason: Reason
        enum CodingKeys: String, CodingKey {
            case reason
            case orderID = "order_id", lineIDs = "line_ids"
        }
        public init(orderID: UUID, lineIDs: [UUID]? = nil, reason: Reason) {
            self.orderID = orderID
            self.lineIDs = lineIDs
            self.reason = reason
        }
    }

    public static let kind = "commission.reverse"
    /// On the `payments` queue, which the default `workers.queues` serve (there is no `commissions` queue).
    public static let options = JobOptions(queue: "payments", retry: .exponentialJitter(maxAttempts: 10),
                                           timeout: .seconds(60))
    let database: Database?

    public init(database: Database?) { self.database = database }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let tenant = try JobTenant.required(context)
        let logger = context.logger
        _ = try await ExecutionLedger(database: database).runOnce(jobID: context.jobID, kind: Self.kind, tenant: tenant) { connection in
            try await Self.lockOrder(arguments.orderID, tenant: tenant, on: connection, logger: logger)
            if try await Self.apply(arguments, jobID: context.jobID, on: connection, logger: logger) { return }
            // The order is not booked yet (its order.placed is late, or waits for an operator):
            // kept until commission.calculate books it, which applies it in the same transaction.
            try await connection.query("""
                INSERT INTO early_reversals (tenant_id, job_id, order_id, reason, line_ids)
                VALUES (\(tenant), \(context.jobID), \(arguments.orderID), \(arguments.reason.rawValue), \(arguments.lineIDs))
                ON CONFLICT (tenant_id, job_id) DO NOTHING
                """, logger: logger)
            logger.notice("the order is not booked yet: its reversal is kept and applied when it is",
                          metadata: ["order_id": "\(arguments.orderID)", "reason": "\(arguments.reason.rawValue)"])
        }
    }

    /// Serializes the booking of `order` (`commission.calculate`) and its reversals until the
    /// transaction ends. Without it, a reversal whose `UPDATE orders` ran while the booking's
    /// transaction had inserted the order but not committed found no order and was kept as
    /// early, after the booking had already looked for early reversals: the reversal was lost,
    /// and the vendor paid for a canceled order.
    static func lockOrder(_ order: UUID, tenant: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        let key = "order:\(tenant.uuidString.lowercased()):\(order.uuidString.lowercased())"
        let rows = try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(key), 0))", logger: logger)
        for try await _ in rows {}
    }

    /// Marks the order and appends the reversal entries, in the caller's transaction; false when
    /// the order is not booked (nothing done).
    ///
    /// The order's status only moves forward: `canceled` stays (a refund after the cancellation,
    /// Medusa's usual order, applied with it when both came before the booking, must not leave a
    /// canceled order `refunded`, which would send it out for delivery and invoicing), and a
    /// later partial refund does not take a `refunded` order back to `partially_refunded`.
    static func apply(_ arguments: Arguments, jobID: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let status: String
        switch (arguments.reason, arguments.lineIDs) {
        case (.cancellation, _): status = "canceled"
        case (.refund, nil): status = "refunded"
        case (.refund, _): status = "partially_refunded"
        }
        let updated = try await connection.query("""
            UPDATE orders SET status = CASE
                WHEN status = 'canceled' OR (status = 'refunded' AND \(status == "partially_refunded")) THEN status
                ELSE \(status) END
            WHERE id = \(arguments.orderID) RETURNING id
            """, logger: logger)
        var found = false
        for try await _ in updated { found = true }
        guard found else { return false }
        let memo = "\(arguments.reason.rawValue) of order \(arguments.orderID)"
        try await connection.query("""
            INSERT INTO vendor_ledger_entries
                (tenant_id, vendor_id, kind, amount, currency, order_id, reverses, occurred_at, job_id, memo)
            SELECT e.tenant_id, e.vendor_id, 'reversal', -e.amount, e.currency, e.order_id, e.id, now(), \(jobID), \(memo)
            FROM vendor_ledger_entries e
            WHERE e.order_id = \(arguments.orderID) AND e.kind IN ('earning', 'commission')
              AND (\(arguments.lineIDs == nil) OR e.order_line_id = ANY(\(arguments.lineIDs ?? [])))
            ON CONFLICT (tenant_id, reverses) WHERE reverses IS NOT NULL DO NOTHING
            """, logger: logger)
        return true
    }

    /// Applies the reversals that arrived before `order` was booked (`early_reversals`), oldest
    /// first, and removes them; in the transaction that books it.
    static func applyEarly(order: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        let rows = try await connection.query("""
            DELETE FROM early_reversals WHERE order_id = \(order) RETURNING job_id, reason, line_ids, created_at
            """, logger: logger)
        var early: [(String, String, [UUID]?, Date)] = []
        for try await row in rows.decode((String, String, [UUID]?, Date).self) { early.append(row) }
        for (jobID, reason, lines, _) in early.sorted(by: { $0.3 < $1.3 }) {
            guard let reason = Arguments.Reason(rawValue: reason) else { continue }
            _ = try await apply(Arguments(orderID: order, lineIDs: lines, reason: reason), jobID: jobID, on: connection, logger: logger)
            logger.notice("applied a reversal that arrived before its order", metadata: ["order_id": "\(order)", "reason": "\(reason.rawValue)"])
        }
    }
}
