import Foundation

/// Orders placed through the control API, shaped like Medusa v2's admin order (amounts in major
/// units): `{"currency_code": "usd", "items": [{"product_id", "variant_id", "title", "quantity",
/// "unit_price"}], "customer_id"?, "email"?, "metadata"?}`.
enum MedusaOrders {
    static func place(_ body: [String: SandboxJSON]) throws(ControlError) -> SandboxJSON {
        guard let currency = body["currency_code"]?.string, currency.count == 3 else {
            throw ControlError("bad_request", "currency_code (3 letters) is required")
        }
        guard let items = body["items"]?.array, !items.isEmpty else {
            throw ControlError("bad_request", "items must be a non-empty array")
        }
        var total = Decimal(0)
        var lines: [SandboxJSON] = []
        for item in items {
            guard let quantity = item["quantity"]?.int, quantity > 0, let price = item["unit_price"]?.decimal, price >= 0 else {
                throw ControlError("bad_request", "every item needs a positive quantity and a unit_price")
            }
            total += price * Decimal(quantity)
            lines.append(["id": .string(SandboxIDs.medusa("ordli")), "title": item["title"] ?? "Item",
                          "quantity": .int(quantity), "unit_price": .decimal(price),
                          "product_id": item["product_id"] ?? .null, "variant_id": item["variant_id"] ?? .null,
                          "metadata": item["metadata"] ?? .null])
        }
        return ["id": .string(SandboxIDs.medusa("order")), "display_id": .int(Int.random(in: 1000...999_999)),
                "status": "pending", "currency_code": .string(currency.lowercased()), "email": body["email"] ?? .null,
                "customer_id": body["customer_id"] ?? .null, "metadata": body["metadata"] ?? .null,
                "items": .array(lines), "total": .decimal(total), "created_at": .string(SandboxIDs.iso8601())]
    }
}
