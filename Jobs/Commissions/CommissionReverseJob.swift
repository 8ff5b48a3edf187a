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
/// the next payouts net it off.
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
            let status: String
            switch (arguments.reason, arguments.lineIDs) {
            case (.cancellation, _): status = "canceled"
            case (.refund, nil): status = "refunded"
            case (.refund, _): status = "partially_refunded"
            }
            let updated = try await connection.query(
                "UPDATE orders SET status = \(status) WHERE id = \(arguments.orderID) RETURNING id", logger: logger)
            var found = false
            for try await _ in updated { found = true }
            // A refund may arrive before its order.placed was handled: retry until the order exists.
            guard found else { throw CommissionReverseError.orderNotFound(arguments.orderID) }
            let memo = "\(arguments.reason.rawValue) of order \(arguments.orderID)"
            try await connection.query("""
                INSERT INTO vendor_ledger_entries
                    (tenant_id, vendor_id, kind, amount, currency, order_id, reverses, occurred_at, job_id, memo)
                SELECT e.tenant_id, e.vendor_id, 'reversal', -e.amount, e.currency, e.order_id, e.id, now(), \(context.jobID), \(memo)
                FROM vendor_ledger_entries e
                WHERE e.order_id = \(arguments.orderID) AND e.kind IN ('earning', 'commission')
                  AND (\(arguments.lineIDs == nil) OR e.order_line_id = ANY(\(arguments.lineIDs ?? [])))
                ON CONFLICT (tenant_id, reverses) WHERE reverses IS NOT NULL DO NOTHING
                """, logger: logger)
        }
    }
}

/// A reversal that cannot be booked yet.
enum CommissionReverseError: Error, CustomStringConvertible {
    case orderNotFound(UUID)
    var description: String {
        switch self {
        case .orderNotFound(let id): return "order \(id) is not stored yet (commission.calculate has not run); retrying"
        }
    }
}
