import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// `commission.calculate` (on `order.placed`): stores the order and its lines, then books, per
/// vendor line, the vendor's `earning` (+line total) and the platform's `commission` (−commission)
/// in the vendor ledger, by the tenant's rules (see ``CommissionRule`` for the rounding).
///
/// Effectively once: everything happens in one transaction through the execution ledger, and the
/// ledger's unique (line, kind) index makes even a second job for the same order book nothing new.
/// Reversals that arrived before the order (`early_reversals`) are applied in that transaction.
public struct CommissionCalculateJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        public var order: PlacedOrder
        public init(order: PlacedOrder) { self.order = order }
    }

    /// The order as `order.placed` describes it. Amounts are integer minor units of `currency`.
    public struct PlacedOrder: Codable, Sendable {
        public struct Line: Codable, Sendable {
            public var id: UUID
            public var vendorID: UUID
            public var quantity: Int
            public var unitAmount: Int64
            enum CodingKeys: String, CodingKey {
                case id, quantity
                case vendorID = "vendor_id", unitAmount = "unit_amount"
            }
            public init(id: UUID = UUID(), vendorID: UUID, quantity: Int, unitAmount: Int64) {
                self.id = id
                self.vendorID = vendorID
                self.quantity = quantity
                self.unitAmount = unitAmount
            }
        }
        public var id: UUID
        public var externalID: String?
        /// ISO 4217, e.g. `USD`.
        public var currency: String
        /// ISO 8601, e.g. `2026-11-25T10:00:00Z`; the hold period before payout counts from here.
        public var placedAt: String
        public var lines: [Line]
        enum CodingKeys: String, CodingKey {
            case id, currency, lines
            case externalID = "external_id", placedAt = "placed_at"
        }
        public init(id: UUID = UUID(), externalID: String? = nil, currency: String, placedAt: String, lines: [Line]) {
            self.id = id
            self.externalID = externalID
            self.currency = currency
            self.placedAt = placedAt
            self.lines = lines
        }
    }

    public static let kind = "commission.calculate"
    /// On the `payments` queue, which the default `workers.queues` serve (there is no `commissions` queue).
    public static let options = JobOptions(queue: "payments", retry: .exponentialJitter(maxAttempts: 10),
                                           timeout: .seconds(60))
    let database: Database?

    public init(database: Database?) { self.database = database }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let tenant = try JobTenant.required(context)
        let order = arguments.order
        try Self.validate(order)
        let logger = context.logger
        _ = try await ExecutionLedger(database: database).runOnce(jobID: context.jobID, kind: Self.kind, tenant: tenant) { connection in
            // Its reversals wait for this transaction, and it for theirs (see `lockOrder`).
            try await CommissionReverseJob.lockOrder(order.id, tenant: tenant, on: connection, logger: logger)
            try await Self.storeOrder(order, tenant: tenant, on: connection, logger: logger)
            var rules: [UUID: (CommissionRule, Int64)] = [:]
            for line in order.lines {
                if rules[line.vendorID] == nil {
                    let rule = try await CommissionRules.rule(tenant: tenant, vendor: line.vendorID, on: connection, logger: logger)
                    let sales = try await CommissionRules.monthlySales(vendor: line.vendorID, before: order, on: connection, logger: logger)
                    rules[line.vendorID] = (rule.applying(currency: order.currency), sales)
                }
                let (rule, sales) = rules[line.vendorID]!
                let total = Int64(line.quantity) * line.unitAmount
                let split: LineSplit
                do throws(CommissionError) { split = try rule.split(lineTotal: total, monthlySales: sales) } catch {
                    throw JobFailure.permanent(error.description)
                }
                try await Self.book(line, split: split, total: total, order: order, tenant: tenant, jobID: context.jobID,
                                    on: connection, logger: logger)
            }
            // A refund or cancellation that came first is applied now, in the same transaction.
            try await CommissionReverseJob.applyEarly(order: order.id, on: connection, logger: logger)
        }
    }

    /// The most an order may total, in minor units (10^15: ten trillion of a two-decimal currency).
    /// A vendor's ledger and payouts are sums of orders in 64 bits; a bound far below 2^63 keeps
    /// them from overflowing, which would fail every later order and payout of the vendor.
    static let maxOrderTotal: Int64 = 1_000_000_000_000_000

    static func validate(_ order: PlacedOrder) throws {
        guard order.currency.count == 3, !order.lines.isEmpty,
              order.lines.allSatisfy({ $0.quantity > 0 && $0.unitAmount >= 0 }) else {
            throw JobFailure.permanent("order \(order.id): a currency code and lines with quantity > 0 and unit_amount >= 0 are required")
        }
        if let line = order.lines.first(where: { $0.quantity > Int(Int32.max) }) {
            throw JobFailure.permanent("order \(order.id): line \(line.id) has quantity \(line.quantity), above the \(Int32.max) an order line holds")
        }
        let (total, overflow) = order.lines.reduce((Int64(0), false)) { partial, line in
            let (product, o1) = Int64(line.quantity).multipliedReportingOverflow(by: line.unitAmount)
            let (sum, o2) = partial.0.addingReportingOverflow(product)
            return (sum, partial.1 || o1 || o2)
        }
        guard !overflow, total <= maxOrderTotal else {
            throw JobFailure.permanent("order \(order.id): its lines total more than \(maxOrderTotal) minor units, the most an order may")
        }
    }

    /// Inserts the order and its lines, or leaves them if they are already stored.
    static func storeOrder(_ order: PlacedOrder, tenant: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        let currency = order.currency.uppercased()
        try await connection.query("""
            INSERT INTO orders (tenant_id, id, external_id, currency, placed_at)
            VALUES (\(tenant), \(order.id), \(order.externalID), \(currency), \(order.placedAt)::timestamptz)
            ON CONFLICT (tenant_id, id) DO NOTHING
            """, logger: logger)
        for line in order.lines {
            let total = Int64(line.quantity) * line.unitAmount
            try await connection.query("""
                INSERT INTO order_lines (tenant_id, id, order_id, vendor_id, quantity, unit_amount, total_amount, currency)
                VALUES (\(tenant), \(line.id), \(order.id), \(line.vendorID), \(line.quantity), \(line.unitAmount), \(total), \(currency))
                ON CONFLICT (tenant_id, id) DO NOTHING
                """, logger: logger)
        }
    }

    /// Appends the line's `earning` and `commission` entries (once per line and kind).
    static func book(_ line: PlacedOrder.Line, split: LineSplit, total: Int64, order: PlacedOrder, tenant: UUID, jobID: String,
                     on connection: PostgresConnection, logger: Logger) async throws {
        let currency = order.currency.uppercased()
        for (kind, amount) in [("earning", total), ("commission", -split.commission)] {
            try await connection.query("""
                INSERT INTO vendor_ledger_entries
                    (tenant_id, vendor_id, kind, amount, currency, order_id, order_line_id, occurred_at, job_id)
                VALUES (\(tenant), \(line.vendorID), \(kind), \(amount), \(currency), \(order.id), \(line.id),
                        \(order.placedAt)::timestamptz, \(jobID))
                ON CONFLICT (tenant_id, order_line_id, kind) WHERE kind IN ('earning', 'commission') DO NOTHING
                """, logger: logger)
        }
    }
}

/// The tenant a job works for, from its envelope.
enum JobTenant {
    static func required(_ context: JobContext) throws -> UUID {
        guard let text = context.tenant, let tenant = UUID(uuidString: text) else {
            throw JobFailure.permanent("\(context.kind) needs a tenant (a UUID) in its envelope; got \(context.tenant ?? "none")")
        }
        return tenant
    }
}
