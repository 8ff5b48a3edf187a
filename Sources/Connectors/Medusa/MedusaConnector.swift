import Foundation

/// Medusa v2 Admin API with a secret API key (`Authorization: Basic base64("sk_…:")`): products
/// with variants and prices, orders, and updates to a product's title, description and metadata.
public struct MedusaConnector: Sendable {
    public let client: ServiceClient

    public init(client: ServiceClient) { self.client = client }

    /// Medusa's errors: `{"type": "not_found", "message": "…"}`; 401 `{"message": "Unauthorized"}`.
    /// A 404 means "no such product" only in Medusa's own words (`type: not_found`): a proxy's or a
    /// gateway's 404 (an HTML page, a route not mounted) is a failure that may pass, or the sync
    /// would take the product for deleted and archive its document, which nothing undoes.
    public static let errors = ServiceErrorReader(details: { response in
        let body = ServiceErrorReader.object(response)
        return (body?["message"]?.stringValue, body?["type"]?.stringValue)
    }, special: { response, service in
        guard response.status == 404, ServiceErrorReader.object(response)?["type"]?.stringValue != "not_found" else { return nil }
        return .unavailable(service: service, status: 404, message: "HTTP 404 without Medusa's not_found answer (a proxy's?)")
    })

    /// Medusa's admin API leaves a variant's stock out unless asked for (`fields=+…`).
    static let productFields = ("fields", "+variants.inventory_quantity")

    /// `GET /admin/products?limit=&offset=` in creation order (`order=created_at`), optionally only
    /// one tenant's products (`tenant_id`, the platform's per-tenant scope) or only the given ids.
    public func products(limit: Int = 50, offset: Int = 0, tenantID: String? = nil,
                         ids: [String]? = nil) async throws(ConnectorError) -> MedusaProductPage {
        var query = [("limit", "\(limit)"), ("offset", "\(offset)"), ("order", "created_at"), Self.productFields]
        if let tenantID { query.append(("tenant_id", tenantID)) }
        // Medusa reads a list only in the array form (`id[]`); a plain `id=a,b` is one id, "a,b".
        if let ids { query += ids.map { ("id[]", $0) } }
        return try await client.send(ServiceRequest(.get, "/admin/products", query: query), decoding: MedusaProductPage.self)
    }

    /// `GET /admin/products/{id}`.
    public func product(id: String) async throws(ConnectorError) -> MedusaProduct {
        try await client.send(
            ServiceRequest(.get, "/admin/products/\(ServiceRequest.segment(id))", endpoint: "GET /admin/products/{id}",
                           query: [Self.productFields]),
            decoding: ProductEnvelope.self).product
    }

    /// `POST /admin/products/{id}` (Medusa has no PATCH): sets the given fields, leaves the rest.
    /// Setting fields is idempotent, so the transport may resend it after a timeout.
    public func updateProduct(id: String, _ update: MedusaProductUpdate) async throws(ConnectorError) -> MedusaProduct {
        let body = try JSONBody.encode(update, service: .medusa)
        return try await client.send(
            ServiceRequest(.post, "/admin/products/\(ServiceRequest.segment(id))", endpoint: "POST /admin/products/{id}",
                           body: .json(body), idempotent: true),
            decoding: ProductEnvelope.self).product
    }

    /// `GET /admin/orders?limit=&offset=`.
    public func orders(limit: Int = 50, offset: Int = 0) async throws(ConnectorError) -> MedusaOrderPage {
        try await client.send(
            ServiceRequest(.get, "/admin/orders", query: [("limit", "\(limit)"), ("offset", "\(offset)")]),
            decoding: MedusaOrderPage.self)
    }

    /// `GET /admin/orders/{id}`.
    public func order(id: String) async throws(ConnectorError) -> MedusaOrder {
        try await client.send(
            ServiceRequest(.get, "/admin/orders/\(ServiceRequest.segment(id))", endpoint: "GET /admin/orders/{id}"),
            decoding: OrderEnvelope.self).order
    }

    struct ProductEnvelope: Decodable { let product: MedusaProduct }
    struct OrderEnvelope: Decodable { let order: MedusaOrder }
}

/// JSON request bodies: encoding failures become `invalidRequest` (nothing is sent).
enum JSONBody {
    static func encode(_ value: some Encodable, service: Service) throws(ConnectorError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return try encoder.encode(value) } catch {
            throw .invalidRequest(service: service, message: "the body does not encode as JSON: \(error)")
        }
    }
}
