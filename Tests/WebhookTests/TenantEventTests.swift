import CityOSTesting
import Connectors
import Foundation
import Ingress
import Jobs
import PostgresNIO
import XCTest

/// `tenant.updated` to the content side, and the tenant isolation of the tables webhooks write.
final class TenantEventTests: XCTestCase {
    func testTenantUpdatedReachesPayloadOnceAndALateUpdateChangesNothing() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let text = tenant.uuidString.lowercased()
            func update(_ name: String, color: String, at time: String) -> [String: Any] {
                ["id": "evt_" + UUID().uuidString, "type": "tenant.updated", "tenant_id": text,
                 "data": ["id": text, "name": name, "updated_at": time, "settings": ["locale": "ar-SA"],
                          "branding": ["primary_color": color, "logo_url": "https://cdn.example/\(name).svg"]]]
            }
            let newer = update("Souq Two", color: "#00aa00", at: "2030-05-01T12:00:00Z")
            let older = update("Souq One", color: "#aa0000", at: "2030-04-01T12:00:00Z")
            try await world.post(.medusa, newer)
            try await world.settled("medusa", try XCTUnwrap(newer["id"] as? String), as: "processed")
            try await world.post(.medusa, older)
            try await world.settled("medusa", try XCTUnwrap(older["id"] as? String), as: "ignored")

            let page = try await world.connectors.payload.find(JSON.self, in: "tenant-settings", where: "tenant_id", equals: text)
            XCTAssertEqual(page.totalDocs, 1, "one settings document per tenant")
            let doc = try XCTUnwrap(page.docs.first)
            XCTAssertEqual(doc["name"]?.stringValue, "Souq Two")
            XCTAssertEqual(doc["branding"]?["primary_color"]?.stringValue, "#00aa00")
            XCTAssertEqual(doc["settings"]?["locale"]?.stringValue, "ar-SA")
            let names = try await world.values(tenant, "SELECT name FROM tenants", as: String.self)
            XCTAssertEqual(names, ["Souq Two"])
        }
    }

    /// An update that leaves branding out (only a rename) keeps the stored branding, here and in
    /// Payload, as it keeps the settings; it used to wipe it to `{}`.
    func testAnUpdateWithoutBrandingKeepsTheStoredBranding() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let text = tenant.uuidString.lowercased()
            let full: [String: Any] = ["id": "evt_" + UUID().uuidString, "type": "tenant.updated", "tenant_id": text,
                                       "data": ["id": text, "name": "Souq", "updated_at": "2030-05-01T12:00:00Z",
                                                "settings": ["locale": "ar-SA"], "branding": ["primary_color": "#00aa00"]] as [String: Any]]
            let rename: [String: Any] = ["id": "evt_" + UUID().uuidString, "type": "tenant.updated", "tenant_id": text,
                                         "data": ["id": text, "name": "Souq Two", "updated_at": "2030-05-02T12:00:00Z"] as [String: Any]]
            for event in [full, rename] {
                try await world.post(.medusa, event)
                try await world.settled("medusa", try XCTUnwrap(event["id"] as? String), as: "processed")
            }
            let colors = try await world.values(tenant, "SELECT settings #>> '{branding,primary_color}' FROM tenants", as: String?.self)
            XCTAssertEqual(colors, ["#00aa00"])
            let locales = try await world.values(tenant, "SELECT settings ->> 'locale' FROM tenants", as: String?.self)
            XCTAssertEqual(locales, ["ar-SA"])
            let page = try await world.connectors.payload.find(JSON.self, in: "tenant-settings", where: "tenant_id", equals: text)
            let doc = try XCTUnwrap(page.docs.first)
            XCTAssertEqual(doc["name"]?.stringValue, "Souq Two")
            XCTAssertEqual(doc["branding"]?["primary_color"]?.stringValue, "#00aa00", "Payload keeps the branding")
        }
    }

    /// An event for a tenant this platform does not have is a dead letter at once, with the reason,
    /// not ten attempts over minutes (no retry can make it apply).
    func testAnEventForATenantNotProvisionedHereIsADeadLetterAtOnce() async throws {
        try await DispatchWorld.run { world in
            let stranger = UUID().uuidString.lowercased()
            let event: [String: Any] = ["id": "evt_" + UUID().uuidString, "type": "tenant.updated", "tenant_id": stranger,
                                        "data": ["id": stranger, "name": "Nobody", "updated_at": "2030-05-01T12:00:00Z"]]
            let answer = try await world.post(.medusa, event)
            let job = try XCTUnwrap(answer.json?["job_id"] as? String)
            try await eventually(timeout: .seconds(10), "the job was not a dead letter at once") {
                world.queue.events.deadReason(job) != nil
            }
            XCTAssertTrue(world.queue.events.deadReason(job)?.contains("is not provisioned here") == true,
                          world.queue.events.deadReason(job) ?? "")
            XCTAssertEqual(world.queue.events.starts(of: job).count, 1, "one attempt")
        }
    }

    /// A time no clock gives (17 digits of seconds: epoch nanoseconds, or junk) is a dead letter
    /// with the reason. It used to overflow `seconds * 1000`, and the trap killed the process (the
    /// ingress, workers and scheduler of `cityos run`), again after each recovery of the job.
    func testATimestampOutOfEveryClocksRangeIsADeadLetterNotACrash() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let text = tenant.uuidString.lowercased()
            let huge = "99999999999999999"
            let tenantUpdated: [String: Any] = ["id": "evt_" + UUID().uuidString, "type": "tenant.updated", "tenant_id": text,
                                                "data": ["id": text, "name": "Souq", "updated_at": huge] as [String: Any]]
            let deliveryUpdated: [String: Any] = ["id": "event_" + UUID().uuidString, "event": "order.updated", "tenant_id": text,
                                                  "created_at": huge,
                                                  "data": ["id": "delivery_x", "status": "dispatched", "updated_at": huge] as [String: Any]]
            let account: [String: Any] = ["id": "acct_" + UUID().uuidString.prefix(8), "payouts_enabled": true]
            let accountUpdated: [String: Any] = ["id": "evt_" + UUID().uuidString, "type": "account.updated",
                                                 "created": 99_999_999_999_999_999 as Int64, "data": ["object": account] as [String: Any]]
            let events: [(WebhookSource, [String: Any])] = [(.medusa, tenantUpdated), (.fleetbase, deliveryUpdated),
                                                            (.stripe, accountUpdated)]
            for (source, event) in events {
                let answer = try await world.post(source, event)
                let job = try XCTUnwrap(answer.json?["job_id"] as? String, "\(source)")
                try await eventually(timeout: .seconds(10), "the \(source) job was not a dead letter") {
                    world.queue.events.deadReason(job) != nil
                }
                let reason = world.queue.events.deadReason(job) ?? ""
                XCTAssertTrue(reason.contains("timestamp"), "\(source): \(reason)")
                XCTAssertEqual(world.queue.events.starts(of: job).count, 1, "\(source): one attempt, failed for good")
            }
        }
    }

    func testATenantSeesNeitherAnotherTenantsInboxRowsNorItsOrderStateAndCannotWriteThem() async throws {
        try await DispatchWorld.run { world in
            let a = try await world.makeTenant()
            let b = try await world.makeTenant()
            let vendor = try await world.makeVendor(a)
            let order = try await world.placeMedusaOrder(tenant: a, vendor: vendor)
            let placed = DispatchWorld.medusaEvent("order.placed", id: order, tenant: a)
            let eventID = try XCTUnwrap(placed["id"] as? String)
            try await world.post(.medusa, placed)
            try await world.settled("medusa", eventID, as: "processed")
            let placedState = try await world.fulfilment(a, medusaOrder: order)
            let delivery = try XCTUnwrap(placedState?.deliveryID)
            let late: [String: Any] = ["id": "event_" + UUID().uuidString, "event": "order.updated", "tenant_id": a.uuidString.lowercased(),
                                       "created_at": "2030-01-01T00:00:00Z",
                                       "data": ["id": delivery, "status": "dispatched", "updated_at": "2030-01-01T00:00:00Z"]]
            try await world.post(.fleetbase, late)
            try await world.settled("fleetbase", try XCTUnwrap(late["id"] as? String), as: "processed")

            let inboxSQL = "SELECT count(*)::int FROM webhook_inbox WHERE external_id = '\(eventID)'"
            let seenByA = try await world.values(a, inboxSQL, as: Int.self)
            let seenByB = try await world.values(b, inboxSQL, as: Int.self)
            XCTAssertEqual(seenByA, [1])
            XCTAssertEqual(seenByB, [0], "tenant B does not see tenant A's event")
            for table in ["order_fulfilments", "object_versions"] {
                let a = try await world.values(a, "SELECT count(*)::int FROM \(table)", as: Int.self)
                let b = try await world.values(b, "SELECT count(*)::int FROM \(table)", as: Int.self)
                XCTAssertEqual(a, [1], table)
                XCTAssertEqual(b, [0], "tenant B sees none of \(table)")
            }
            // B cannot write rows for A, nor change A's.
            let aText = a.uuidString.lowercased()
            for sql in ["INSERT INTO object_versions (tenant_id, kind, object_id, version) VALUES ('\(aText)', 'x', 'y', 1)",
                        "INSERT INTO webhook_inbox (source, external_id, type, payload, tenant_id) VALUES ('medusa', 'forged', 't', '{}', '\(aText)')"] {
                do {
                    _ = try await world.values(b, sql + " RETURNING 1", as: Int.self)
                    XCTFail("tenant B wrote a row of tenant A: \(sql)")
                } catch let error as PSQLError {
                    XCTAssertEqual(error.serverInfo?[.sqlState], "42501", "\(sql): \(error.serverInfo?[.message] ?? "")")
                }
            }
            let changed = try await world.values(b, "UPDATE order_fulfilments SET delivery_status = 'forged' RETURNING 1", as: Int.self)
            XCTAssertEqual(changed, [], "tenant B's update reaches none of A's rows")
            let status = try await world.fulfilment(a, medusaOrder: order)?.deliveryStatus
            XCTAssertEqual(status, "dispatched")
        }
    }
}
