import Connectors
import Crypto
import Foundation
import Queue

/// A Medusa order as the platform stores it: our ids are UUIDs derived from Medusa's (so every
/// event about an order, and every retry, names the same rows), amounts in minor units, and each
/// line's vendor from its metadata (`vendor_id`, else the order's `vendor_id`).
///
/// Delivery: an order whose metadata holds `shipping_address` (the drop-off) and `pickup_address`
/// (each `{name?, street1, street2?, city?, postal_code?, country?, phone?}`) gets one Fleetbase
/// delivery order; an order without them (digital goods, collection in store) gets none.
enum MedusaOrderMapping {
    /// A stable UUID for an outside id (SHA-256 of `namespace:id`, shaped as a version-5-like UUID).
    static func uuid(_ namespace: String, _ id: String) -> UUID {
        var bytes = Array(SHA256.hash(data: Array("\(namespace):\(id)".utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    static func orderID(_ medusaID: String) -> UUID { uuid("medusa.order", medusaID) }
    static func lineID(_ medusaLineID: String) -> UUID { uuid("medusa.line", medusaLineID) }

    /// The order for `commission.calculate`; fails for good on a line without a vendor.
    static func placedOrder(_ order: MedusaOrder, placedAt: String) throws(JobFailure) -> CommissionCalculateJob.PlacedOrder {
        var lines: [CommissionCalculateJob.PlacedOrder.Line] = []
        for item in order.items {
            let text = item.metadata?["vendor_id"]?.stringValue ?? order.metadata?["vendor_id"]?.stringValue
            guard let text, let vendor = UUID(uuidString: text) else {
                throw .permanent("Medusa order \(order.id): line \(item.id) has no vendor_id (a UUID) in its metadata or the order's")
            }
            lines.append(.init(id: lineID(item.id), vendorID: vendor, quantity: item.quantity,
                               unitAmount: Int64(item.unitPrice.minorUnits)))
        }
        return .init(id: orderID(order.id), externalID: order.id, currency: order.currency.uppercased(), placedAt: placedAt,
                     lines: lines)
    }

    /// The pickup and drop-off of the order's delivery, or nil if it has none.
    static func delivery(_ order: MedusaOrder) throws(JobFailure) -> (pickup: FleetbasePlace, dropoff: FleetbasePlace)? {
        guard let dropoff = order.metadata?["shipping_address"] else { return nil }
        guard let pickup = order.metadata?["pickup_address"] else {
            throw .permanent("Medusa order \(order.id) has a shipping_address but no pickup_address in its metadata")
        }
        return (try place(pickup, "pickup_address", order), try place(dropoff, "shipping_address", order))
    }

    private static func place(_ json: JSON, _ field: String, _ order: MedusaOrder) throws(JobFailure) -> FleetbasePlace {
        do {
            return try JSONDecoder().decode(FleetbasePlace.self, from: JSONEncoder().encode(json))
        } catch {
            throw .permanent("Medusa order \(order.id): metadata.\(field) is not an address with street1")
        }
    }

    /// The sales invoice's lines: one per order line, item code the variant's (else the product's).
    static func invoiceLines(_ order: MedusaOrder) -> [ERPNextInvoiceLine] {
        order.items.map {
            ERPNextInvoiceLine(itemCode: $0.variantID ?? $0.productID ?? $0.id, quantity: $0.quantity, unitPrice: $0.unitPrice,
                               description: $0.title)
        }
    }
}
