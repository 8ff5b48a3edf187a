import CityOSTesting
import Crypto
import Foundation
import Jobs
import NIOCore
import AsyncHTTPClient
import PostgresNIO
import Queue
import XCTest

extension SyncWorld {
    /// Enqueues `sync.reconcile` for the tenant; returns its job id.
    func enqueueReconcile(_ tenant: UUID, batchSize: Int) async throws -> String {
        try await queue.client.enqueue(SyncReconcileJob.self, .init(batchSize: batchSize),
                                       options: .init(tenant: tenant.uuidString.lowercased())).id
    }

    struct Cursor: Equatable {
        var phase: String
        var position: Int64
        var runJobID: String
        var checked: Int64
        var repaired: Int64
        var conflicts: Int64
        var finished: Bool
    }

    func cursor(_ tenant: UUID) async throws -> Cursor? {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT phase, position, run_job_id, checked, repaired, conflicts, finished_at IS NOT NULL FROM sync_cursors
                """, logger: Self.logger)
            for try await (phase, position, run, checked, repaired, conflicts, finished)
                in rows.decode((String, Int64, String, Int64, Int64, Int64, Bool).self) {
                return Cursor(phase: phase, position: position, runJobID: run, checked: checked, repaired: repaired,
                              conflicts: conflicts, finished: finished)
            }
            return nil
        }
    }

    /// Runs a reconciliation on this process's workers and waits for its cursor to finish.
    @discardableResult
    func reconcile(_ tenant: UUID, batchSize: Int, timeout: Duration = .seconds(120)) async throws -> Cursor {
        try await awaitReconciliation(tenant, job: try await enqueueReconcile(tenant, batchSize: batchSize), timeout: timeout)
    }

    /// Waits for reconciliation `job` of the tenant to finish; returns its cursor.
    @discardableResult
    func awaitReconciliation(_ tenant: UUID, job: String, timeout: Duration = .seconds(120)) async throws -> Cursor {
        var last: Cursor?
        try await eventually(timeout: timeout, interval: .milliseconds(50), "reconciliation \(job) finished") {
            last = try await self.cursor(tenant)
            return last?.runJobID == job && last?.finished == true
        }
        return try XCTUnwrap(last)
    }

    /// Seeds `count` products for the tenant, each with its content document in step (no webhooks).
    func seed(_ tenant: UUID, count: Int) async throws -> (products: [String], docs: [String]) {
        let seeded = try await call("POST", "/_sandbox/medusa/products/seed", [
            "tenant_id": tenant.uuidString.lowercased(), "count": count, "content_collection": "products-content"])
        let products = seeded["product_ids"] as? [String] ?? []
        let docs = (seeded["doc_ids"] as? [Any] ?? []).map { "\($0)" }
        XCTAssertEqual(products.count, count)
        XCTAssertEqual(docs.count, count)
        return (products, docs)
    }

    /// Posts a platform-signed event straight to the ingress (as a late or replayed delivery would).
    func postEvent(source: String, _ event: [String: Any]) async throws {
        let body = try JSONSerialization.data(withJSONObject: event)
        let time = Int(Date().timeIntervalSince1970)
        let key = SymmetricKey(data: Array((Self.secrets[source] ?? "").utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(time).".utf8) + Array(body), using: key)
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(ingressPort)/webhooks/\(source)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "CityOS-Signature", value: "t=\(time),v1=\(mac.map { String(format: "%02x", $0) }.joined())")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        XCTAssertEqual(response.status.code, 202)
    }
}

/// Differences between two call counts, endpoint by endpoint (only those that changed).
func delta(_ after: [String: Int], _ before: [String: Int]) -> [String: Int] {
    var changes: [String: Int] = [:]
    for (endpoint, count) in after where count != before[endpoint, default: 0] { changes[endpoint] = count - before[endpoint, default: 0] }
    return changes
}
