/// Payload CMS 3 REST API (`Authorization: {collection} API-Key {key}`): find documents by a
/// field, create and update them. Documents are any `Decodable` type (or `JSON`).
///
/// Every call asks for `depth=0`: relationships as ids. Payload's default depth (2) would give a
/// media document's `product`, and a content document's `media`, as whole documents, where the
/// sync reads and writes ids.
public struct PayloadConnector: Sendable {
    public let client: ServiceClient

    public init(client: ServiceClient) { self.client = client }

    /// Payload's errors: `{"errors": [{"message": "…", "name"?: "ValidationError"}]}`.
    /// A 404 means "no such document" only in Payload's own words (that `errors` list): a proxy's
    /// or a gateway's 404 (Payload being redeployed behind its ingress) is a failure that may pass,
    /// or the sync would take the linked document for gone, move the link to a new stub and leave
    /// the editor's document behind, which nothing undoes.
    static let errors = ServiceErrorReader(details: { response in
        guard case .array(let errors)? = ServiceErrorReader.object(response)?["errors"], let first = errors.first else {
            return (nil, nil)
        }
        return (first["message"]?.stringValue, first["name"]?.stringValue)
    }, special: { response, service in
        guard response.status == 404 else { return nil }
        if case .array(let errors)? = ServiceErrorReader.object(response)?["errors"], !errors.isEmpty { return nil }
        return .unavailable(service: service, status: 404, message: "HTTP 404 without Payload's errors answer (a proxy's?)")
    })

    /// Relationships as ids, not populated documents.
    static let idsOnly = ("depth", "0")

    /// `GET /api/{collection}?where[field][equals]=value&limit=&page=`.
    public func find<Document: Decodable & Sendable>(
        _ type: Document.Type = JSON.self, in collection: String = PayloadCollection.productsContent,
        where field: String, equals value: String, limit: Int = 10, page: Int = 1
    ) async throws(ConnectorError) -> PayloadPage<Document> {
        let query = [("where[\(field)][equals]", value), ("limit", "\(limit)"), ("page", "\(page)"), Self.idsOnly]
        return try await client.send(
            ServiceRequest(.get, "/api/\(ServiceRequest.segment(collection))", endpoint: "GET /api/{collection}",
                           query: query),
            decoding: PayloadPage<Document>.self)
    }

    /// `GET /api/{collection}?where[a][equals]=…&where[b][in]=x,y&limit=&page=[&sort=]`: documents
    /// matching every condition, in `sort`'s order (a field, `-field` descending) or Payload's own.
    public func find<Document: Decodable & Sendable>(
        _ type: Document.Type = JSON.self, in collection: String = PayloadCollection.productsContent,
        matching conditions: [PayloadCondition], limit: Int = 10, page: Int = 1, sort: String? = nil
    ) async throws(ConnectorError) -> PayloadPage<Document> {
        var query = conditions.map(\.queryItem)
        query.append(contentsOf: [("limit", "\(limit)"), ("page", "\(page)"), Self.idsOnly])
        if let sort { query.append(("sort", sort)) }
        return try await client.send(
            ServiceRequest(.get, "/api/\(ServiceRequest.segment(collection))", endpoint: "GET /api/{collection}",
                           query: query),
            decoding: PayloadPage<Document>.self)
    }

    /// `GET /api/{collection}/{id}`.
    public func document<Document: Decodable & Sendable>(
        _ type: Document.Type = JSON.self, in collection: String = PayloadCollection.productsContent, id: String
    ) async throws(ConnectorError) -> Document {
        try await client.send(
            ServiceRequest(.get, "/api/\(ServiceRequest.segment(collection))/\(ServiceRequest.segment(id))",
                           endpoint: "GET /api/{collection}/{id}", query: [Self.idsOnly]),
            decoding: Document.self)
    }

    /// `POST /api/{collection}` (201 `{doc, message}`). Not idempotent: after a timeout, `find` by
    /// the document's external key before creating it again.
    public func create<Document: Decodable & Sendable>(
        _ fields: some Encodable, in collection: String = PayloadCollection.productsContent,
        as type: Document.Type = JSON.self
    ) async throws(ConnectorError) -> Document {
        let body = try JSONBody.encode(fields, service: .payload)
        return try await client.send(
            ServiceRequest(.post, "/api/\(ServiceRequest.segment(collection))", endpoint: "POST /api/{collection}",
                           query: [Self.idsOnly], body: .json(body)),
            decoding: PayloadDocumentAnswer<Document>.self).doc
    }

    /// `PATCH /api/{collection}/{id}` (200 `{doc, message}`): sets the given fields.
    public func update<Document: Decodable & Sendable>(
        id: String, _ fields: some Encodable, in collection: String = PayloadCollection.productsContent,
        as type: Document.Type = JSON.self
    ) async throws(ConnectorError) -> Document {
        let body = try JSONBody.encode(fields, service: .payload)
        return try await client.send(
            ServiceRequest(.patch, "/api/\(ServiceRequest.segment(collection))/\(ServiceRequest.segment(id))",
                           endpoint: "PATCH /api/{collection}/{id}", query: [Self.idsOnly], body: .json(body)),
            decoding: PayloadDocumentAnswer<Document>.self).doc
    }
}
