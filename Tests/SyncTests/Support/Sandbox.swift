import AsyncHTTPClient
import CityOSTesting
import Foundation
import NIOCore
import XCTest

/// Talking to the sandbox over HTTP as Medusa's and Payload's admins (and its control API).
extension SyncWorld {
    static let medusaAuth = "Basic " + Data("sk_test_sync:".utf8).base64EncodedString()
    static let payloadAuth = "users API-Key payload-sync-key"

    @discardableResult
    func call(_ method: String, _ path: String, _ body: Any? = nil, auth: String? = nil) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: sandboxURL + path)
        request.method = .init(rawValue: method)
        request.headers.add(name: "Content-Type", value: "application/json")
        if let auth { request.headers.add(name: "Authorization", value: auth) }
        if let body { request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))) }
        let response = try await http.execute(request, timeout: .seconds(30))
        let data = Data((try await response.body.collect(upTo: 64 << 20)).readableBytesView)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        guard (200..<300).contains(Int(response.status.code)) else {
            XCTFail("\(method) \(path) answered \(response.status.code): \(String(decoding: data, as: UTF8.self))")
            return json
        }
        return json
    }

    @discardableResult
    func medusa(_ method: String, _ path: String, _ body: Any? = nil) async throws -> [String: Any] {
        try await call(method, "/medusa" + path, body, auth: Self.medusaAuth)
    }

    @discardableResult
    func payload(_ method: String, _ path: String, _ body: Any? = nil) async throws -> [String: Any] {
        try await call(method, "/payload" + path, body, auth: Self.payloadAuth)
    }

    /// Creates a product the way an admin does (sends `product.created`); returns it.
    func createProduct(_ tenant: UUID, title: String, cents: Int = 1999, description: String? = nil) async throws -> [String: Any] {
        var body: [String: Any] = [
            "title": title, "status": "published",
            "metadata": ["tenant_id": tenant.uuidString.lowercased()],
            "variants": [["title": "Default", "sku": "SKU-\(title)", "inventory_quantity": 5,
                          "prices": [["amount": Double(cents) / 100, "currency_code": "usd"]]]],
        ]
        if let description { body["description"] = description }
        return try await medusa("POST", "/admin/products", body)["product"] as? [String: Any] ?? [:]
    }

    /// Creates a product in Medusa and waits until its content stub is linked: (product id,
    /// document id).
    func linkedProduct(_ tenant: UUID, title: String, description: String? = nil) async throws -> (id: String, docID: String) {
        let product = try await createProduct(tenant, title: title, description: description)
        let id = try XCTUnwrap(product["id"] as? String)
        try await eventually("the stub exists") { try await self.links(tenant)[id] != nil }
        let linked = try await links(tenant)
        return (id, try XCTUnwrap(linked[id]))
    }

    func product(_ id: String) async throws -> [String: Any] {
        try await medusa("GET", "/admin/products/\(id)")["product"] as? [String: Any] ?? [:]
    }

    /// A content document with its relationships as ids (`depth=0`, as the platform reads it).
    func document(_ id: String) async throws -> [String: Any] {
        try await payload("GET", "/api/products-content/\(id)?depth=0")
    }

    /// The product's content documents (by `medusa_id`).
    func documents(of productID: String) async throws -> [[String: Any]] {
        try await payload("GET", "/api/products-content?where[medusa_id][equals]=\(productID)&limit=10&depth=0")["docs"] as? [[String: Any]] ?? []
    }

    func setWebhooks(_ enabled: Bool) async throws {
        try await call("POST", "/_sandbox/webhooks", ["enabled": enabled])
    }

    /// Calls answered per endpoint (`POST /payload/api/{collection}` → n).
    func callCounts() async throws -> [String: Int] {
        let calls = try await call("GET", "/_sandbox/calls")["calls"] as? [String: Any] ?? [:]
        return calls.compactMapValues { ($0 as? [String: Any])?["count"] as? Int }
    }

    /// Calls that change Medusa or Payload (creates, updates, deletes).
    func writes() async throws -> [String: Int] {
        try await callCounts().filter { $0.key.hasPrefix("POST /medusa") || $0.key.hasPrefix("PATCH /payload")
            || $0.key.hasPrefix("POST /payload") || $0.key.hasPrefix("DELETE /medusa") }
    }

    /// Waits until nothing is moving: no webhook waiting to be delivered, none delivered while we
    /// looked, and no job ready, running or waiting for a retry on the sync's queues.
    func settle(timeout: Duration = .seconds(30)) async throws {
        try await eventually(timeout: timeout, "the sync settles") {
            let before = try await self.deliveries()
            for name in ["webhooks", "sync"] {
                if let queue = try await self.queue.queue(name), queue.ready + queue.inFlight + queue.delayed > 0 { return false }
            }
            let after = try await self.deliveries()
            return before.pending == 0 && after.pending == 0 && before.total == after.total
        }
    }

    func deliveries() async throws -> (pending: Int, total: Int, failed: Int) {
        let state = try await call("GET", "/_sandbox/webhooks")
        let deliveries = state["deliveries"] as? [[String: Any]] ?? []
        return (state["pending"] as? Int ?? -1, deliveries.count,
                deliveries.filter { ($0["state"] as? String) == "failed" }.count)
    }
}
