import Foundation
import Jobs
import XCTest

extension DispatchWorld {
    /// Posts `order.placed` for `order` and waits until the inbox holds it as processed.
    func handleOrderPlaced(_ order: String, tenant: UUID) async throws {
        let placed = DispatchWorld.medusaEvent("order.placed", id: order, tenant: tenant)
        try await post(.medusa, placed)
        try await settled("medusa", try XCTUnwrap(placed["id"] as? String), as: "processed")
    }

    /// Places an order in the sandbox's Medusa (no webhook is sent: the test posts the events):
    /// two lamps at 12.50 USD from `vendor`, with pickup and drop-off addresses. Returns its id.
    func placeMedusaOrder(tenant: UUID, vendor: UUID, delivery: Bool = true, pickup: Bool = true) async throws -> String {
        var metadata: [String: Any] = ["tenant_id": tenant.uuidString.lowercased()]
        if delivery {
            if pickup {
                metadata["pickup_address"] = ["name": "Vendor depot", "street1": "1 Warehouse Way", "city": "Riyadh", "country": "SA"]
            }
            metadata["shipping_address"] = ["name": "Customer", "street1": "22 Palm Street", "city": "Riyadh", "country": "SA"]
        }
        let answer = try await sandbox("POST", "/_sandbox/medusa/orders", [
            "currency_code": "usd", "customer_id": "cus_webhook_test", "email": "buyer@example.com", "metadata": metadata,
            "items": [["product_id": "prod_lamp", "variant_id": "variant_lamp", "title": "Lamp", "quantity": 2,
                       "unit_price": 12.5, "metadata": ["vendor_id": vendor.uuidString.lowercased()]]],
        ])
        let order = try XCTUnwrap(answer["order"] as? [String: Any], "\(answer)")
        return try XCTUnwrap(order["id"] as? String)
    }

    /// The platform envelope of a Medusa event about `id`.
    static func medusaEvent(_ type: String, id: String, tenant: UUID, eventID: String = "evt_" + UUID().uuidString,
                            data: [String: Any] = [:]) -> [String: Any] {
        var body = data
        body["id"] = id
        return ["id": eventID, "type": type, "data": body, "tenant_id": tenant.uuidString.lowercased()]
    }

    /// The ids the sandbox holds: Fleetbase orders and ERPNext documents.
    func sandboxDocuments() async throws -> (deliveries: [String], documents: [String]) {
        let state = try await sandbox("GET", "/_sandbox/state")
        let deliveries = ((state["fleetbase"] as? [String: Any])?["orders"] as? [Any] ?? []).compactMap { $0 as? String }
        let documents = ((state["erpnext"] as? [String: Any])?["documents"] as? [Any] ?? []).compactMap { $0 as? String }
        return (deliveries, documents)
    }

    struct Fulfilment {
        var deliveryID: String?
        var deliveryStatus: String?
        var invoiceName: String?
        var accountingStatus: String
        var canceled: Bool
    }

    func fulfilment(_ tenant: UUID, medusaOrder: String) async throws -> Fulfilment? {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT delivery_id, delivery_status, invoice_name, accounting_status, canceled_at IS NOT NULL
                FROM order_fulfilments WHERE external_id = \(medusaOrder)
                """, logger: Self.logger)
            for try await row in rows.decode((String?, String?, String?, String, Bool).self) {
                return Fulfilment(deliveryID: row.0, deliveryStatus: row.1, invoiceName: row.2, accountingStatus: row.3,
                                  canceled: row.4)
            }
            return nil
        }
    }

    /// The order's ledger entries as (kind, amount), sorted.
    func ledger(_ tenant: UUID, medusaOrder: String) async throws -> [String] {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT e.kind, e.amount FROM vendor_ledger_entries e JOIN orders o ON o.tenant_id = e.tenant_id AND o.id = e.order_id
                WHERE o.external_id = \(medusaOrder) ORDER BY e.kind, e.amount
                """, logger: Self.logger)
            var entries: [String] = []
            for try await (kind, amount) in rows.decode((String, Int64).self) { entries.append("\(kind) \(amount)") }
            return entries
        }
    }
}
