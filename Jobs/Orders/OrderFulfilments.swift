import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// The delivery and accounting side of orders (`order_fulfilments`): which Fleetbase order and
/// ERPNext invoice an order has, created once each, and the statuses their webhooks report.
struct OrderFulfilments {
    let database: Database
    let logger: Logger

    /// The outside document an order gets once.
    enum Document: String {
        case delivery = "delivery_id"
        case invoice = "invoice_name"
    }

    /// Adds the order's row (its `orders` row must exist), or leaves it.
    func ensure(tenant: UUID, order: UUID, externalID: String) async throws {
        let logger = self.logger
        try await database.withTenant(tenant) { connection in
            try await connection.query("""
                INSERT INTO order_fulfilments (tenant_id, order_id, external_id) VALUES (\(tenant), \(order), \(externalID))
                ON CONFLICT (tenant_id, order_id) DO NOTHING
                """, logger: logger)
        }
    }

    /// Marks the order's row canceled if the order is (a cancellation that arrived before the
    /// order was booked): `once` then creates nothing for it.
    func cancelIfCanceled(tenant: UUID, order: UUID) async throws {
        let logger = self.logger
        try await database.withTenant(tenant) { connection in
            try await connection.query("""
                UPDATE order_fulfilments f SET canceled_at = coalesce(f.canceled_at, now()), updated_at = now()
                FROM orders o WHERE o.tenant_id = f.tenant_id AND o.id = f.order_id AND f.order_id = \(order)
                  AND o.status = 'canceled' AND f.canceled_at IS NULL
                """, logger: logger)
        }
    }

    /// Creates the order's `document` once: with the row locked, if no id is stored yet, `create`
    /// runs (the outside call) and its id is stored in the same transaction. A second event for the
    /// order waits on the lock, then finds the id. Returns the id, and whether this call created it.
    ///
    /// A crash after the outside service created the document and before the commit leaves no id:
    /// the retry creates another. `lookUp` closes that gap where the service can find a document by
    /// our reference (it runs first, under the same lock). A canceled order gets no new document (nil).
    @discardableResult
    func once(_ document: Document, tenant: UUID, order: UUID, lookUp: () async throws -> String? = { nil },
              create: () async throws -> String) async throws -> (id: String, created: Bool)? {
        let logger = self.logger
        return try await database.withTenantAcrossOutsideCalls(tenant, lane: .orders) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT \(document.rawValue), canceled_at IS NOT NULL FROM order_fulfilments
                WHERE order_id = $1 FOR UPDATE
                """, binds: Self.binds(order)), logger: logger)
            var existing: (String?, Bool)?
            for try await row in rows.decode((String?, Bool).self) { existing = row }
            guard let (stored, canceled) = existing else {
                throw OrderFulfilmentError.missing(order)
            }
            if let stored { return (stored, false) }
            if canceled { return nil }
            let found = try await lookUp()
            let id: String
            if let found { id = found } else {
                id = try await create()
                FailPoints.crashIfEnabled("order.placed.\(document == .delivery ? "delivery" : "invoice")_created")
            }
            var binds = PostgresBindings()
            binds.append(id)
            binds.append(order)
            try await connection.query(PostgresQuery(unsafeSQL: """
                UPDATE order_fulfilments SET \(document.rawValue) = $1, updated_at = now()
                    \(document == .invoice ? ", accounting_status = 'invoiced'"
                        : ", delivery_status = CASE WHEN delivery_status IS NULL OR delivery_status = 'refused' THEN 'created' ELSE delivery_status END")
                WHERE order_id = $2
                """, binds: binds), logger: logger)
            return (id, true)
        }
    }

    /// Marks the order's delivery refused (`delivery_status = 'refused'`) while it has none: the
    /// order is booked and invoiced, and what is missing shows in the row, not only in the dead
    /// letter. Making the delivery later (a replay) sets it to `created`.
    func markDeliveryRefused(tenant: UUID, order: UUID) async throws {
        let logger = self.logger
        try await database.withTenant(tenant) { connection in
            try await connection.query("""
                UPDATE order_fulfilments SET delivery_status = 'refused', updated_at = now()
                WHERE order_id = \(order) AND delivery_id IS NULL AND canceled_at IS NULL
                """, logger: logger)
        }
    }

    private static func binds(_ order: UUID) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(order)
        return binds
    }

    /// (tenant, order id) of the order whose `document` is `id`, looked up across tenants (for
    /// outside events that name no tenant). An id more than one order holds (each tenant's ERPNext
    /// numbers its invoices alike) is told apart by `externalID` (the Medusa order the document
    /// names); without it, or with no match, it is ambiguous and the event fails for good.
    func owner(of document: Document, id: String, externalID: String?) async throws -> (tenant: UUID, order: UUID)? {
        let logger = self.logger
        let candidates = try await database.withPlatformSweep { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT tenant_id, order_id, external_id FROM order_fulfilments WHERE \(document.rawValue) = $1
                """, binds: { var binds = PostgresBindings(); binds.append(id); return binds }()), logger: logger)
            var found: [(UUID, UUID, String)] = []
            for try await row in rows.decode((UUID, UUID, String).self) { found.append(row) }
            return found
        }
        if candidates.count <= 1 { return candidates.first.map { ($0.0, $0.1) } }
        if let externalID, let match = candidates.first(where: { $0.2 == externalID }) { return (match.0, match.1) }
        throw JobFailure.permanent("\(document.rawValue) \(id) is held by \(candidates.count) orders in different tenants; "
            + "the event must name its tenant (tenant_id) or its order")
    }
}

enum OrderFulfilmentError: Error, CustomStringConvertible {
    case missing(UUID)
    var description: String {
        switch self {
        case .missing(let order): return "order \(order) has no fulfilment row (order.placed has not been handled); retrying"
        }
    }
}
