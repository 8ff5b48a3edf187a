import Hummingbird

/// Medusa v2's Admin API under `/medusa`: products with variants and prices (amounts in major
/// units, as Medusa stores them), orders, product updates by `POST /admin/products/{id}`,
/// deletes by `DELETE /admin/products/{id}`. `product.created` / `product.updated` /
/// `product.deleted` go out as webhooks; orders are placed through the control API
/// (`POST /_sandbox/medusa/orders`), which sends `order.placed`. Every product carries a
/// `version` (1 when created, +1 on every update) beside `updated_at`.
struct MedusaRoutes {
    let routes: ServiceRoutes

    static let updatableFields: Set<String> = ["title", "subtitle", "description", "handle", "status", "metadata"]

    func register() {
        let world = routes.world
        routes.on(.get, "/admin/products") { request, _ throws(ServiceFailure) in
            Answer.json(Self.page(Self.filtered(world.medusa.products.all, Answer.queryItems(request),
                                                byTenant: world.medusa.filtersByTenant.load(ordering: .relaxed)),
                                  key: "products", request: request))
        }
        routes.on(.get, "/admin/products/{id}") { _, context throws(ServiceFailure) in
            let id = Answer.parameter(context, "id")
            guard let product = world.medusa.products[id] else { throw Self.missing("Product", id) }
            return Answer.json(["product": product])
        }
        routes.on(.post, "/admin/products") { request, _ throws(ServiceFailure) in
            let product = try Self.newProduct(try await Answer.jsonObject(request, .medusa))
            world.medusa.products.put(product["id"]?.string ?? "", product)
            MedusaState.send("product.created", product, world: world)
            return Answer.json(["product": product])
        }
        routes.on(.post, "/admin/products/{id}") { request, context throws(ServiceFailure) in
            let id = Answer.parameter(context, "id")
            let fields = try await Answer.jsonObject(request, .medusa)
            let unknown = fields.keys.filter { !Self.updatableFields.contains($0) }.sorted()
            guard unknown.isEmpty else {
                throw .badRequest(.medusa, "Invalid request: Unrecognized fields: \(unknown.map { "'\($0)'" }.joined(separator: ", "))")
            }
            guard let product = world.medusa.products.update(id, {
                Self.apply(fields, to: &$0, mergingMetadata: world.medusa.mergesMetadata.load(ordering: .relaxed))
            }) else {
                throw Self.missing("Product", id)
            }
            MedusaState.send("product.updated", product, world: world)
            return Answer.json(["product": product])
        }
        routes.on(.delete, "/admin/products/{id}") { _, context throws(ServiceFailure) in
            let id = Answer.parameter(context, "id")
            guard let product = world.medusa.products.remove(id) else { throw Self.missing("Product", id) }
            var deleted = product
            deleted["version"] = .int((product["version"]?.int ?? 0) + 1)
            deleted["updated_at"] = .string(SandboxIDs.iso8601())
            MedusaState.send("product.deleted", deleted, world: world)
            return Answer.json(["id": .string(id), "object": "product", "deleted": true])
        }
        MedusaSeed(router: routes.router, world: world).register()
        routes.on(.get, "/admin/orders") { request, _ throws(ServiceFailure) in
            Answer.json(Self.page(world.medusa.orders.all, key: "orders", request: request))
        }
        routes.on(.get, "/admin/orders/{id}") { _, context throws(ServiceFailure) in
            let id = Answer.parameter(context, "id")
            guard let order = world.medusa.orders[id] else { throw Self.missing("Order", id) }
            return Answer.json(["order": order])
        }
    }

    /// The platform's filters: `tenant_id` (the product's `metadata.tenant_id`: a multi-tenant
    /// Medusa scopes products per tenant) and the ids, as Medusa reads them: `id[]=a&id[]=b` (or
    /// `id[]=a,b`) is a list of ids; a plain `id=a,b` is the one id "a,b", which matches nothing.
    /// Without `byTenant` (`POST /_sandbox/medusa/filters {"tenant_id": false}`), `tenant_id` is
    /// ignored, as by a Medusa without the platform's plugin.
    static func filtered(_ all: [SandboxJSON], _ items: [(name: String, value: String)], byTenant: Bool = true) -> [SandboxJSON] {
        var products = all
        if byTenant, let tenant = items.last(where: { $0.name == "tenant_id" })?.value {
            products = products.filter { $0["metadata"]?["tenant_id"]?.string == tenant }
        }
        let listed = items.filter { $0.name == "id[]" }.flatMap { $0.value.split(separator: ",").map(String.init) }
        let single = items.filter { $0.name == "id" }.map(\.value)
        if !listed.isEmpty || !single.isEmpty {
            let wanted = Set(listed + single)
            products = products.filter { wanted.contains($0["id"]?.string ?? "") }
        }
        return products
    }

    static func page(_ all: [SandboxJSON], key: String, request: Request) -> SandboxJSON {
        let query = Answer.query(request)
        let limit = max(0, min(Int(query["limit"] ?? "") ?? 50, 1000))
        let offset = max(0, Int(query["offset"] ?? "") ?? 0)
        let slice = offset < all.count ? Array(all[offset..<min(all.count, offset + limit)]) : []
        return [key: .array(slice), "count": .int(all.count), "offset": .int(offset), "limit": .int(limit)]
    }

    static func newProduct(_ body: [String: SandboxJSON]) throws(ServiceFailure) -> SandboxJSON {
        guard let title = body["title"]?.string, !title.isEmpty else {
            throw .badRequest(.medusa, "Invalid request: Field 'title' is required")
        }
        let productID = SandboxIDs.medusa("prod")
        var variants: [SandboxJSON] = []
        for variant in body["variants"]?.array ?? [] {
            var prices: [SandboxJSON] = []
            for price in variant["prices"]?.array ?? [] {
                guard let amount = price["amount"]?.decimal, let currency = price["currency_code"]?.string else {
                    throw .badRequest(.medusa, "Invalid request: every price needs 'amount' and 'currency_code'")
                }
                prices.append(["id": .string(SandboxIDs.medusa("price")), "amount": .decimal(amount),
                               "currency_code": .string(currency.lowercased())])
            }
            variants.append(["id": .string(SandboxIDs.medusa("variant")), "product_id": .string(productID),
                             "title": variant["title"] ?? .string(title), "sku": variant["sku"] ?? .null,
                             "inventory_quantity": .int(variant["inventory_quantity"]?.int ?? 0),
                             "prices": .array(prices), "metadata": variant["metadata"] ?? .null])
        }
        let now = SandboxJSON.string(SandboxIDs.iso8601())
        return ["id": .string(productID), "title": .string(title), "subtitle": body["subtitle"] ?? .null,
                "description": body["description"] ?? .null,
                "handle": body["handle"] ?? .string(title.lowercased().replacingOccurrences(of: " ", with: "-")),
                "status": body["status"] ?? "draft", "metadata": body["metadata"] ?? .null,
                "variants": .array(variants), "version": 1, "created_at": now, "updated_at": now]
    }

    /// Sets the given fields; metadata keys merge, and a key set to "" is removed (Medusa's rule),
    /// or, with `mergingMetadata` off, the metadata sent replaces the product's.
    static func apply(_ fields: [String: SandboxJSON], to product: inout SandboxJSON, mergingMetadata: Bool = true) {
        for (key, value) in fields where key != "metadata" { product[key] = value }
        if let metadata = fields["metadata"]?.object {
            var merged = mergingMetadata ? product["metadata"]?.object ?? [:] : [:]
            for (key, value) in metadata {
                if value == "" { merged.removeValue(forKey: key) } else { merged[key] = value }
            }
            product["metadata"] = .object(merged)
        }
        product["updated_at"] = .string(SandboxIDs.iso8601())
        product["version"] = .int((product["version"]?.int ?? 0) + 1)
    }

    static func missing(_ kind: String, _ id: String) -> ServiceFailure {
        .notFound(.medusa, "\(kind) with id: \(id) was not found")
    }
}
