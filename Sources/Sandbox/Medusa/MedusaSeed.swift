import Foundation
import Hummingbird

/// `POST /_sandbox/medusa/products/seed`: thousands of products for one tenant in one call, with
/// no webhooks — what a test of the reconciliation starts from.
///
/// `{"tenant_id": "…", "count": 5000, "content_collection": "products-content"?}` makes `count`
/// products (`Seed product <n>`, one variant `SKU-<n>` priced `(1000 + n) / 100` USD with 10 in
/// stock, a description and `metadata.seo_title`). With `content_collection`, each also gets its
/// Payload document in that collection, already in step with the product in the shape the sync
/// writes (docs/sync.md), published. Answers `{"count", "product_ids", "doc_ids"}`.
struct MedusaSeed {
    let router: Router<BasicRequestContext>
    let world: SandboxWorld

    func register() {
        let world = world
        router.post("/_sandbox/medusa/products/seed") { request, _ in
            await ControlRoutes.handle { () throws(ControlError) in
                try Self.seed(try await ControlRoutes.object(request), world: world)
            }
        }
    }

    static func seed(_ body: [String: SandboxJSON], world: SandboxWorld) throws(ControlError) -> SandboxJSON {
        guard let tenant = body["tenant_id"]?.string, !tenant.isEmpty else {
            throw ControlError("bad_request", "tenant_id is required")
        }
        guard let count = body["count"]?.int, (1...50_000).contains(count) else {
            throw ControlError("bad_request", "count must be 1...50000")
        }
        let collection = body["content_collection"]?.string
        let start = world.medusa.products.count
        var productIDs: [SandboxJSON] = []
        var docIDs: [SandboxJSON] = []
        for n in start..<(start + count) {
            let product = Self.product(n, tenant: tenant)
            let id = product["id"]?.string ?? ""
            world.medusa.products.put(id, product)
            productIDs.append(.string(id))
            if let collection {
                let docID = world.payload.nextID()
                world.payload.collection(collection).put(String(docID), Self.document(of: product, id: docID, minor: 1000 + n))
                docIDs.append(.int(docID))
            }
        }
        return ["count": .int(count), "product_ids": .array(productIDs), "doc_ids": .array(docIDs)]
    }

    static func product(_ n: Int, tenant: String) -> SandboxJSON {
        let id = SandboxIDs.medusa("prod")
        let now = SandboxJSON.string(SandboxIDs.iso8601())
        let variant: SandboxJSON = [
            "id": .string(SandboxIDs.medusa("variant")), "product_id": .string(id), "title": "Default",
            "sku": .string("SKU-\(n)"), "inventory_quantity": 10, "metadata": .null,
            "prices": [["id": .string(SandboxIDs.medusa("price")), "amount": .decimal(Decimal(1000 + n) / 100),
                        "currency_code": "usd"]],
        ]
        return ["id": .string(id), "title": .string("Seed product \(n)"), "subtitle": .null,
                "description": .string("Description \(n)"), "handle": .string("seed-product-\(n)"), "status": "published",
                "metadata": ["tenant_id": .string(tenant), "seo_title": .string("SEO \(n)")],
                "variants": [variant], "version": 1, "created_at": now, "updated_at": now]
    }

    /// The product's content document as the sync writes it (docs/sync.md), amounts in minor units.
    static func document(of product: SandboxJSON, id: Int, minor: Int) -> SandboxJSON {
        let variants: [SandboxJSON] = (product["variants"]?.array ?? []).map { variant in
            ["id": variant["id"] ?? .null, "sku": variant["sku"] ?? .null,
             "inventory_quantity": variant["inventory_quantity"] ?? .null,
             "prices": [["amount": .int(minor), "currency_code": "usd"]]]
        }
        let now = SandboxJSON.string(SandboxIDs.iso8601())
        return ["id": .int(id), "medusa_id": product["id"] ?? .null, "tenant_id": product["metadata"]?["tenant_id"] ?? .null,
                "title": product["title"] ?? .null, "handle": product["handle"] ?? .null, "status": product["status"] ?? .null,
                "variants": .array(variants), "description": product["description"] ?? .null,
                "seo": ["title": product["metadata"]?["seo_title"] ?? .null, "description": .null],
                "media": [], "_status": "published", "version": 1, "createdAt": now, "updatedAt": now]
    }
}
