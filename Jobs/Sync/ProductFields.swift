import Connectors
import Foundation

/// The side of the sync that owns a field: its value wins when the two sides disagree.
public enum SyncSide: String, Sendable, Codable {
    /// Medusa: what is sold — handle, prices, inventory, variants, status (and the title).
    case commerce
    /// Payload: how it is told — description, SEO, rich content, media.
    case content

    var other: SyncSide { self == .commerce ? .content : .commerce }
}

/// A product's synced fields, their owners, and how each side stores them.
///
/// | field | owner | Medusa product | Payload `products-content` document |
/// | --- | --- | --- | --- |
/// | `title`, `handle`, `status` | commerce | same names | same names |
/// | `variants` | commerce | variants with prices and inventory | `variants: [{id, sku, inventory_quantity, prices: [{amount (minor units), currency_code}]}]` |
/// | `description` | content | `description` | `description` |
/// | `seo_title`, `seo_description` | content | `metadata.seo_title`, `metadata.seo_description` | `seo.title`, `seo.description` |
///
/// Rich content (`content`) and media (`media`) live only in Payload, so they never conflict.
/// An empty string reads as no value on both sides (Medusa removes a metadata key set to "").
public enum ProductFields {
    public static let owners: [String: SyncSide] = [
        "title": .commerce, "handle": .commerce, "status": .commerce, "variants": .commerce,
        "description": .content, "seo_title": .content, "seo_description": .content,
    ]
    /// In a stable order, for plans and conflict rows.
    public static let names: [String] = ["title", "handle", "status", "variants", "description", "seo_title", "seo_description"]

    /// The fields as Medusa holds them. Variants in id order and each one's prices in currency
    /// order: Medusa does not promise an order, and the same product listed in another order must
    /// not read as a change (a write to Payload and a repair at every run).
    public static func commerceView(_ product: MedusaProduct) -> [String: JSON] {
        let variants: [JSON] = product.variants.sorted { $0.id < $1.id }.map { variant in
            .object(["id": .string(variant.id), "sku": text(variant.sku),
                     "inventory_quantity": variant.inventoryQuantity.map { .number(Decimal($0)) } ?? .null,
                     "prices": .array(variant.prices.sorted {
                         ($0.money.currency.lowercased(), $0.money.minorUnits) < ($1.money.currency.lowercased(), $1.money.minorUnits)
                     }.map { price in
                         .object(["amount": .number(Decimal(price.money.minorUnits)),
                                  "currency_code": .string(price.money.currency.lowercased())])
                     })])
        }
        return ["title": text(product.title), "handle": text(product.handle), "status": text(product.status),
                "variants": .array(variants), "description": text(product.description),
                "seo_title": text(product.metadata?["seo_title"]?.stringValue),
                "seo_description": text(product.metadata?["seo_description"]?.stringValue)]
    }

    /// The fields as the Payload document holds them.
    public static func contentView(_ doc: JSON) -> [String: JSON] {
        var variants: [JSON] = []
        if case .array(let stored)? = doc["variants"] {
            variants = stored.map { variant in
                var prices: [JSON] = []
                if case .array(let storedPrices)? = variant["prices"] {
                    prices = storedPrices.map { .object(["amount": $0["amount"] ?? .null,
                                                         "currency_code": $0["currency_code"] ?? .null]) }
                }
                return .object(["id": variant["id"] ?? .null, "sku": text(variant["sku"]?.stringValue),
                                "inventory_quantity": variant["inventory_quantity"] ?? .null, "prices": .array(prices)])
            }
        }
        return ["title": text(doc["title"]?.stringValue), "handle": text(doc["handle"]?.stringValue),
                "status": text(doc["status"]?.stringValue), "variants": .array(variants),
                "description": text(doc["description"]?.stringValue),
                "seo_title": text(doc["seo"]?["title"]?.stringValue),
                "seo_description": text(doc["seo"]?["description"]?.stringValue)]
    }

    /// The fields a `PATCH` of the document sets to `values` (the SEO pair is one object: both
    /// members are sent, from `agreed`).
    static func payloadPatch(_ values: [String: JSON], agreed: [String: JSON]) -> [String: JSON] {
        var patch: [String: JSON] = [:]
        for (name, value) in values {
            switch name {
            case "seo_title", "seo_description":
                patch["seo"] = .object(["title": agreed["seo_title"] ?? .null, "description": agreed["seo_description"] ?? .null])
            default:
                patch[name] = value
            }
        }
        return patch
    }

    /// The Medusa update that sets `values` (only content-owned fields are ever sent there).
    /// A metadata change sends the product's whole `metadata` as read (`current`) with the SEO
    /// keys set, never the SEO keys alone: a Medusa that replaces `metadata` on update, rather
    /// than merging it, would otherwise drop `tenant_id` (which scopes the product to its tenant)
    /// and every other key. A Medusa that merges gets the keys it already has.
    static func medusaUpdate(_ values: [String: JSON], current: [String: JSON]?) -> MedusaProductUpdate {
        var update = MedusaProductUpdate()
        var seo: [String: JSON] = [:]
        for (name, value) in values {
            switch name {
            case "description": update.description = value.stringValue ?? ""
            case "title": update.title = value.stringValue
            case "seo_title", "seo_description": seo[name] = .string(value.stringValue ?? "")
            default: break
            }
        }
        if !seo.isEmpty { update.metadata = (current ?? [:]).merging(seo) { _, new in new } }
        return update
    }

    /// A new product's content document: every synced field from Medusa (content starts from the
    /// commerce copy), a draft until an editor publishes it.
    static func stub(medusaID: String, tenant: UUID, values: [String: JSON]) -> [String: JSON] {
        var doc = payloadPatch(values, agreed: values)
        doc["medusa_id"] = .string(medusaID)
        doc["tenant_id"] = .string(tenant.uuidString.lowercased())
        doc["content"] = .null
        doc["media"] = .array([])
        doc["_status"] = "draft"
        return doc
    }

    static func version(_ doc: JSON) -> Int64 {
        if case .number(let number)? = doc["version"] { return NSDecimalNumber(decimal: number).int64Value }
        return 0
    }

    private static func text(_ value: String?) -> JSON {
        guard let value, !value.isEmpty else { return .null }
        return .string(value)
    }
}
