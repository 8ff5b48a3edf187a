import CityOSTesting
import Crypto
import Foundation
import XCTest

/// The sandbox sends signed webhooks for asynchronous outcomes, like the real services, to the
/// configured ingress URL; delivery is retried and never holds up the API answer.
final class WebhookTests: XCTestCase {
    var catcher: WebhookCatcher!
    var sandbox: SandboxHarness!

    override func setUp() async throws {
        catcher = try await WebhookCatcher.start()
        sandbox = try await SandboxHarness.start(webhooksURL: catcher.url)
    }

    override func tearDown() async throws {
        await sandbox?.stop()
        await catcher?.stop()
    }

    func testStripeEventsAreSignedWithStripeSignature() async throws {
        let connectors = try sandbox.connectors()
        defer { Task { await connectors.shutdown() } }
        let intent = try await connectors.stripe.chargeOffSession(
            amount: .init(minorUnits: 500, currency: "usd"), customer: "cus_W", paymentMethod: "pm_card_visa",
            metadata: ["tenant_id": "acme"], idempotencyKey: "wh-1")
        try await sandbox.script(["kind": "decline", "customer": "cus_W"])
        _ = try? await connectors.stripe.chargeOffSession(
            amount: .init(minorUnits: 500, currency: "usd"), customer: "cus_W", paymentMethod: "pm_card_visa",
            idempotencyKey: "wh-2")
        try await eventually("payment_intent.succeeded and .payment_failed delivered") {
            self.catcher.events("stripe", type: "payment_intent.succeeded").count == 1
                && self.catcher.events("stripe", type: "payment_intent.payment_failed").count == 1
        }
        let succeeded = try XCTUnwrap(catcher.events("stripe", type: "payment_intent.succeeded").first)
        let object = (succeeded.json["data"] as? [String: Any])?["object"] as? [String: Any]
        XCTAssertEqual(object?["id"] as? String, intent.id)
        XCTAssertEqual((object?["metadata"] as? [String: Any])?["tenant_id"] as? String, "acme")
        try Self.verifyTimestamped(succeeded, header: "Stripe-Signature", secret: SandboxHarness.secrets["stripe"]!)
    }

    func testMedusaFleetbaseAndERPNextEventsUseTheirOwnSchemes() async throws {
        let medusa = try await sandbox.raw(
            "POST", "/medusa/admin/products", headers: ["Authorization": "Basic " + Data("sk_m:".utf8).base64EncodedString(),
                                                       "Content-Type": "application/json"],
            body: #"{"title": "Mug", "metadata": {"tenant_id": "acme"}}"#)
        XCTAssertEqual(medusa.status, 200)
        try await sandbox.control("POST", "/_sandbox/medusa/orders", [
            "currency_code": "usd", "items": [["title": "Mug", "quantity": 2, "unit_price": 12.5]]])
        let fleet = try await sandbox.raw(
            "POST", "/fleetbase/v1/orders", headers: ["Authorization": "Bearer flb_test_x", "Content-Type": "application/json"],
            body: #"{"pickup": {"street1": "1 Main St"}, "dropoff": {"street1": "2 High St"}}"#)
        let orderID = try XCTUnwrap(fleet.json["id"] as? String)
        _ = try await sandbox.raw("POST", "/fleetbase/v1/orders/\(orderID)/dispatch", headers: ["Authorization": "Bearer flb_test_x"])
        let invoice = try await sandbox.raw(
            "POST", "/erpnext/api/resource/Sales%20Invoice",
            headers: ["Authorization": "token k:s", "Content-Type": "application/json"],
            body: #"{"customer": "ACME", "due_date": "2025-02-28", "docstatus": 1, "items": [{"item_code": "FEE", "qty": 1, "rate": 10.5}]}"#)
        XCTAssertEqual(invoice.status, 200)

        try await eventually("every source delivered") {
            self.catcher.events("medusa", type: "product.created").count == 1
                && self.catcher.events("medusa", type: "order.placed").count == 1
                && self.catcher.events("fleetbase", type: "order.created").count == 1
                && self.catcher.events("fleetbase", type: "order.dispatched").count == 1
                && self.catcher.received.contains { $0.source == "erpnext" }
        }
        let created = try XCTUnwrap(catcher.events("medusa", type: "product.created").first)
        XCTAssertEqual((created.json["data"] as? [String: Any])?["id"] as? String,
                       medusa.json["product"].flatMap { ($0 as? [String: Any])?["id"] as? String })
        XCTAssertEqual(created.json["tenant_id"] as? String, "acme")
        try Self.verifyTimestamped(created, header: "CityOS-Signature", secret: SandboxHarness.secrets["medusa"]!)

        let dispatched = try XCTUnwrap(catcher.events("fleetbase", type: "order.dispatched").first)
        XCTAssertEqual((dispatched.json["data"] as? [String: Any])?["status"] as? String, "dispatched")
        XCTAssertEqual(dispatched.headers["signature"],
                       Self.hex(Self.mac(dispatched.body, secret: SandboxHarness.secrets["fleetbase"]!)))

        let submitted = try XCTUnwrap(catcher.received.first { $0.source == "erpnext" })
        XCTAssertEqual(submitted.json["event"] as? String, "on_submit")
        XCTAssertEqual(submitted.json["doctype"] as? String, "Sales Invoice")
        XCTAssertEqual(submitted.headers["x-frappe-webhook-signature"],
                       Data(Self.mac(submitted.body, secret: SandboxHarness.secrets["erpnext"]!)).base64EncodedString())
    }

    func testFailedDeliveryIsRetried() async throws {
        catcher.answer([500, 503])
        _ = try await sandbox.raw("POST", "/fleetbase/v1/orders",
                                  headers: ["Authorization": "Bearer flb_test_x", "Content-Type": "application/json"],
                                  body: #"{"waypoints": [{"street1": "a"}, {"street1": "b"}]}"#)
        try await eventually("delivered on the third try") {
            let deliveries = try await self.sandbox.control("GET", "/_sandbox/webhooks")["deliveries"] as? [[String: Any]]
            return deliveries?.first?["state"] as? String == "delivered"
        }
        XCTAssertEqual(catcher.received.count, 3)
        XCTAssertEqual(Set(catcher.received.map(\.body)).count, 1, "every try sends the same event")
    }

    func testWebhooksCanBeTurnedOff() async throws {
        try await sandbox.control("POST", "/_sandbox/webhooks", ["enabled": false])
        let connectors = try sandbox.connectors()
        defer { Task { await connectors.shutdown() } }
        _ = try await connectors.stripe.chargeOffSession(
            amount: .init(minorUnits: 100, currency: "usd"), customer: "cus_off", paymentMethod: "pm_card_visa",
            idempotencyKey: "off-1")
        let state = try await sandbox.control("GET", "/_sandbox/webhooks")
        let deliveries = try XCTUnwrap(state["deliveries"] as? [[String: Any]])
        XCTAssertEqual(deliveries.map { $0["state"] as? String }, ["skipped"])
        XCTAssertTrue(catcher.received.isEmpty)
    }

    /// As the real services now and then do, an event is sent again, the same id and body signed
    /// anew: twice, or late (held while sending is off, sent after a later one).
    func testAnEventIsDeliveredAgainAsADuplicateOrLate() async throws {
        let connectors = try sandbox.connectors()
        defer { Task { await connectors.shutdown() } }
        try await sandbox.control("POST", "/_sandbox/webhooks", ["enabled": false])
        let first = try await connectors.stripe.chargeOffSession(
            amount: .init(minorUnits: 700, currency: "usd"), customer: "cus_again", paymentMethod: "pm_card_visa",
            idempotencyKey: "again-1")
        try await sandbox.control("POST", "/_sandbox/webhooks", ["enabled": true])
        let second = try await connectors.stripe.chargeOffSession(
            amount: .init(minorUnits: 800, currency: "usd"), customer: "cus_again", paymentMethod: "pm_card_visa",
            idempotencyKey: "again-2")
        try await eventually("the second charge's event delivered") { self.catcher.received.count == 1 }
        let held = try await sandbox.control("GET", "/_sandbox/webhooks")["deliveries"] as? [[String: Any]] ?? []
        let firstEvent = try XCTUnwrap(held.first?["id"] as? String)
        XCTAssertEqual(held.first?["state"] as? String, "skipped")

        // The first charge's event, late; then again: a duplicate.
        let late = try await sandbox.control("POST", "/_sandbox/webhooks/redeliver", ["id": firstEvent])
        XCTAssertEqual(late["state"] as? String, "pending")
        try await eventually("the late event delivered") { self.catcher.received.count == 2 }
        try await sandbox.control("POST", "/_sandbox/webhooks/redeliver", ["id": firstEvent, "source": "stripe"])
        try await eventually("the duplicate delivered") { self.catcher.received.count == 3 }
        let objects = catcher.received.map { ($0.json["data"] as? [String: Any])?["object"] as? [String: Any] }
        XCTAssertEqual(objects.map { $0?["id"] as? String }, [second.id, first.id, first.id], "late, then twice")
        XCTAssertEqual(catcher.received[1].body, catcher.received[2].body, "the same event, byte for byte")
        XCTAssertEqual(catcher.received[2].json["id"] as? String, firstEvent)
        for received in catcher.received {
            try Self.verifyTimestamped(received, header: "Stripe-Signature", secret: SandboxHarness.secrets["stripe"]!)
        }
        let deliveries = try await sandbox.control("GET", "/_sandbox/webhooks")["deliveries"] as? [[String: Any]] ?? []
        XCTAssertEqual(deliveries.map { $0["redelivery"] as? Bool }, [false, false, true, true])

        let unknown = try await sandbox.raw("POST", "/_sandbox/webhooks/redeliver", headers: ["Content-Type": "application/json"],
                                            body: #"{"id": "evt_never_sent"}"#)
        XCTAssertEqual(unknown.status, 404, "\(unknown.json)")
        let otherService = try await sandbox.raw("POST", "/_sandbox/webhooks/redeliver", headers: ["Content-Type": "application/json"],
                                                 body: #"{"id": "\#(firstEvent)", "source": "medusa"}"#)
        XCTAssertEqual(otherService.status, 404, "no medusa event has that id")
        let badSource = try await sandbox.raw("POST", "/_sandbox/webhooks/redeliver", headers: ["Content-Type": "application/json"],
                                              body: #"{"id": "\#(firstEvent)", "source": "paypal"}"#)
        XCTAssertEqual(badSource.status, 400)
        XCTAssertTrue(((badSource.json["error"] as? [String: Any])?["message"] as? String ?? "").contains("stripe"), "\(badSource.json)")
        XCTAssertEqual(catcher.received.count, 3, "nothing more was sent")
    }

    // MARK: Signatures, computed here independently of the sandbox

    static func verifyTimestamped(_ received: WebhookCatcher.Received, header: String, secret: String,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let value = try XCTUnwrap(received.headers[header.lowercased()], "no \(header)", file: file, line: line)
        var parts: [String: String] = [:]
        for piece in value.split(separator: ",") {
            let pair = piece.split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { parts[pair[0]] = pair[1] }
        }
        let t = try XCTUnwrap(parts["t"].flatMap(Int.init), file: file, line: line)
        XCTAssertLessThan(abs(t - Int(Date().timeIntervalSince1970)), 60, file: file, line: line)
        var signed = Data("\(t).".utf8)
        signed.append(received.body)
        XCTAssertEqual(parts["v1"], hex(mac(signed, secret: secret)), "bad \(header)", file: file, line: line)
    }

    static func mac(_ data: Data, secret: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: Data(secret.utf8))))
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
