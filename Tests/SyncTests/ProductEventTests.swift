import CityOSTesting
import Foundation
import Jobs
import Queue
import Synchronization
import XCTest

/// Events over real HTTP: the sandbox's Medusa and Payload send signed webhooks to a running
/// ingress, real workers run the sync, and it writes back to the sandbox.
final class ProductEventTests: XCTestCase {
    func testHundredProductsCreatedInMedusaEachGetTheirContentStubWithinOneSecond() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            var products: [[String: Any]] = []
            for n in 0..<100 {
                products.append(try await world.createProduct(tenant, title: "Lamp \(n)", cents: 1000 + n, description: "Lamp no. \(n)"))
            }
            try await eventually(timeout: .seconds(30), "100 products linked") { try await world.links(tenant).count == 100 }
            try await world.settle()
            let links = try await world.links(tenant)
            var latencies: [Double] = []
            for product in products {
                let id = try XCTUnwrap(product["id"] as? String)
                let doc = try await world.document(try XCTUnwrap(links[id]))
                XCTAssertEqual(doc["medusa_id"] as? String, id)
                XCTAssertEqual(doc["tenant_id"] as? String, tenant.uuidString.lowercased())
                XCTAssertEqual(doc["title"] as? String, product["title"] as? String)
                XCTAssertEqual(doc["handle"] as? String, product["handle"] as? String)
                XCTAssertEqual(doc["description"] as? String, product["description"] as? String)
                XCTAssertEqual(doc["_status"] as? String, "draft", "a stub waits for an editor")
                let price = ((doc["variants"] as? [[String: Any]])?.first?["prices"] as? [[String: Any]])?.first
                let expected = 1000 + Int(((product["title"] as? String) ?? "").split(separator: " ").last.flatMap { Int($0) } ?? -1)
                XCTAssertEqual(price?["amount"] as? Int, expected, "minor units")
                latencies.append(try Self.millis(doc["createdAt"]) - Self.millis(product["created_at"]))
            }
            latencies.sort()
            let p50 = latencies[49], p99 = latencies[98]
            print("sync: product.created → content stub, 100 products: p50 \(Int(p50)) ms, p99 \(Int(p99)) ms, max \(Int(latencies[99])) ms")
            XCTAssertLessThanOrEqual(latencies.last ?? .infinity, 1000, "every stub within 1 s of its product.created")
            let writes = try await world.writes()
            XCTAssertEqual(writes["POST /payload/api/{collection}"], 100, "one stub per product, no duplicates")
            XCTAssertNil(writes["PATCH /payload/api/{collection}/{id}"])
            XCTAssertNil(writes["POST /medusa/admin/products/{id}"])
            let conflicts = try await world.conflicts(tenant)
            XCTAssertEqual(conflicts, [])
        }
    }

    func testContentPublishedUpdatesTheProductAndTheRoundTripsStopWriting() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            let (id, docID) = try await world.linkedProduct(tenant, title: "Chair", description: "Old copy")
            try await world.settle()
            let start = try await world.writes()

            // An editor publishes copy and SEO: content → commerce.
            try await world.payload("PATCH", "/api/products-content/\(docID)", [
                "description": "New copy", "seo": ["title": "Best chair", "description": "Sit well"],
                "content": "<p>Rich story</p>", "_status": "published"])
            try await eventually("Medusa has the published copy") {
                let product = try await world.product(id)
                let metadata = product["metadata"] as? [String: Any]
                return product["description"] as? String == "New copy" && metadata?["seo_title"] as? String == "Best chair"
                    && metadata?["seo_description"] as? String == "Sit well"
            }
            try await world.settle()
            let afterPublish = try await world.writes()
            XCTAssertEqual(delta(afterPublish, start), ["PATCH /payload/api/{collection}/{id}": 1, "POST /medusa/admin/products/{id}": 1],
                           "the editor's publish and one write to Medusa; its product.updated echo wrote nothing")

            // Commerce changes the handle: commerce → content, and the published document's echo stops.
            try await world.medusa("POST", "/admin/products/\(id)", ["handle": "chair-deluxe"])
            try await eventually("Payload has the new handle") { try await world.document(docID)["handle"] as? String == "chair-deluxe" }
            try await world.settle()
            let afterHandle = try await world.writes()
            XCTAssertEqual(delta(afterHandle, afterPublish), ["POST /medusa/admin/products/{id}": 1, "PATCH /payload/api/{collection}/{id}": 1],
                           "the admin's update and one write to Payload; its content.published echo wrote nothing")
            let doc = try await world.document(docID)
            XCTAssertEqual(doc["description"] as? String, "New copy")
            XCTAssertEqual(doc["content"] as? String, "<p>Rich story</p>")
            let conflicts = try await world.conflicts(tenant)
            XCTAssertEqual(conflicts, [])
            let deliveries = try await world.deliveries()
            XCTAssertEqual(deliveries.failed, 0)
            XCTAssertGreaterThanOrEqual(deliveries.total, 4, "created, published, updated (ours), updated (admin's), published (ours)")
        }
    }

    /// A Medusa that replaces a product's `metadata` on update, rather than merging it, keeps the
    /// product's `tenant_id` and its other keys when the sync writes the SEO fields: the sync sends
    /// the whole `metadata` it read, with the SEO keys set.
    func testSEOWrittenToAMedusaThatReplacesMetadataKeepsTheTenantAndTheOtherKeys() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            let (id, docID) = try await world.linkedProduct(tenant, title: "Stool")
            try await world.medusa("POST", "/admin/products/\(id)", ["metadata": ["material": "oak"]])
            try await world.settle()
            _ = try await world.call("POST", "/_sandbox/medusa/metadata", ["merge": false])
            try await world.payload("PATCH", "/api/products-content/\(docID)", [
                "seo": ["title": "Oak stool", "description": "Solid oak"], "_status": "published"])
            try await eventually("Medusa has the published SEO title") {
                (try await world.product(id)["metadata"] as? [String: Any])?["seo_title"] as? String == "Oak stool"
            }
            try await world.settle()
            let product = try await world.product(id)
            let metadata = try XCTUnwrap(product["metadata"] as? [String: Any])
            XCTAssertEqual(metadata["tenant_id"] as? String, tenant.uuidString.lowercased(), "the product is still its tenant's")
            XCTAssertEqual(metadata["material"] as? String, "oak", "a key the sync does not own is kept")
            XCTAssertEqual(metadata["seo_description"] as? String, "Solid oak")
            let linked = try await world.links(tenant)
            XCTAssertEqual(linked[id], docID, "the product is still linked to its document")
        }
    }

    /// Tenant A's content document naming tenant B's product (a `medusa_id` typed, imported or
    /// copied) syncs nothing: B's product keeps its copy, and A gets no link to it.
    func testAContentDocumentNamingAnotherTenantsProductSyncsNothing() async throws {
        try await SyncWorld.run { world in
            let a = try await world.makeTenant()
            let b = try await world.makeTenant()
            let product = try await world.createProduct(b, title: "B's lamp", description: "B's copy")
            let id = try XCTUnwrap(product["id"] as? String)
            try await eventually("B's stub exists") { try await world.links(b)[id] != nil }
            try await world.settle()
            let doc = try await world.payload("POST", "/api/products-content", [
                "tenant_id": a.uuidString.lowercased(), "medusa_id": id, "title": "A's lamp",
                "description": "A's copy", "_status": "published"])
            XCTAssertNotNil((doc["doc"] as? [String: Any])?["id"] ?? doc["id"], "the document was created: \(doc)")
            try await world.settle()
            let after = try await world.product(id)
            XCTAssertEqual(after["description"] as? String, "B's copy", "A's copy did not reach B's product")
            let linksOfA = try await world.links(a)
            XCTAssertNil(linksOfA[id], "A has no link to B's product")
        }
    }

    func testTheSameFieldChangedOnBothSidesGoesToItsOwnerAndAConflictRowSaysSo() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            let (id, docID) = try await world.linkedProduct(tenant, title: "Desk", description: "Copy A")
            try await world.settle()

            // Both sides change handle and description while no event flows.
            try await world.setWebhooks(false)
            try await world.medusa("POST", "/admin/products/\(id)", ["handle": "commerce-handle", "description": "commerce copy"])
            try await world.payload("PATCH", "/api/products-content/\(docID)", [
                "handle": "content-handle", "description": "content copy", "_status": "published"])
            try await world.setWebhooks(true)
            try await world.medusa("POST", "/admin/products/\(id)", [String: Any]())   // product.updated

            try await eventually("each side has the owner's value") {
                let product = try await world.product(id)
                let doc = try await world.document(docID)
                return product["description"] as? String == "content copy" && doc["handle"] as? String == "commerce-handle"
            }
            try await world.settle()
            let product2 = try await world.product(id)
            let doc = try await world.document(docID)
            XCTAssertEqual(product2["handle"] as? String, "commerce-handle", "commerce owns the handle")
            XCTAssertEqual(doc["description"] as? String, "content copy", "content owns the description")
            let conflicts = try await world.conflicts(tenant).sorted { $0.field > $1.field }
            XCTAssertEqual(conflicts.map(\.field), ["handle", "description"])
            XCTAssertEqual(conflicts.map(\.medusaID), [id, id])
            XCTAssertEqual(conflicts.first, SyncWorld.Conflict(medusaID: id, field: "handle", commerce: "\"commerce-handle\"",
                                                                content: "\"content-handle\"", winner: "commerce",
                                                                reason: "changed on both sides; commerce owns handle"))
            XCTAssertEqual(conflicts.last, SyncWorld.Conflict(medusaID: id, field: "description", commerce: "\"commerce copy\"",
                                                               content: "\"content copy\"", winner: "content",
                                                               reason: "changed on both sides; content owns description"))
        }
    }

    /// A publish whose content write went through and whose Medusa write was refused: the conflict
    /// the content write settled is recorded although the attempt fails; the retry finishes the rest.
    func testAConflictSettledBeforeAFailedWriteIsRecordedOnce() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            let (id, docID) = try await world.linkedProduct(tenant, title: "Lamp", description: "Old copy")
            try await world.settle()
            let handle = try await world.document(docID)["handle"] as? String

            _ = try await world.call("POST", "/_sandbox/script",
                                     ["kind": "fail", "endpoint": "POST /medusa/admin/products/{id}", "status": 400, "times": 1])
            // The editor changes commerce's handle (restored: a conflict) and content's description.
            try await world.payload("PATCH", "/api/products-content/\(docID)", [
                "handle": "editor-lamp", "description": "New copy", "_status": "published"])
            try await eventually("Medusa never got the description") { try await world.product(id)["description"] as? String == "New copy" }
            try await world.settle()
            let conflicts = try await world.conflicts(tenant)
            XCTAssertEqual(conflicts.map(\.field), ["handle"], "the settled conflict, once: \(conflicts)")
            XCTAssertEqual(conflicts.first?.winner, "commerce")
            let restored = try await world.document(docID)["handle"] as? String
            XCTAssertEqual(restored, handle)
        }
    }

    func testLateEventsNeverMoveARecordBackwards() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            let (id, docID) = try await world.linkedProduct(tenant, title: "Stool")
            try await world.medusa("POST", "/admin/products/\(id)", ["handle": "stool-2"])
            try await world.medusa("POST", "/admin/products/\(id)", ["handle": "stool-3"])
            try await eventually("Payload has the last handle") { try await world.document(docID)["handle"] as? String == "stool-3" }
            try await world.settle()
            let before = try await world.callCounts()
            let processed = try await world.queue.queue("webhooks")?.processed ?? 0

            // Deliveries of version 1 and 2 arrive late (a sender's retry, a slow subscriber).
            let tenantText = tenant.uuidString.lowercased()
            // Event ids are unique per delivery, across runs too: the inbox keeps every event it saw.
            let run = UUID().uuidString.lowercased()
            for version in [1, 2] {
                try await world.postEvent(source: "medusa", ["id": "evt_late_\(version)_\(id)_\(run)", "type": "product.updated",
                                                             "data": ["id": id, "version": version], "tenant_id": tenantText])
            }
            try await world.postEvent(source: "payload", ["id": "evt_late_doc_\(docID)_\(run)", "type": "content.published",
                                                          "data": ["id": Int(docID) ?? 0, "collection": "products-content", "version": 1],
                                                          "tenant_id": tenantText])
            try await eventually("the late events were handled") {
                (try await world.queue.queue("webhooks")?.processed ?? 0) >= processed + 3
            }
            try await world.settle()
            let after = try await world.callCounts()
            XCTAssertEqual(delta(after, before).filter { !$0.key.hasPrefix("GET /_sandbox") && !$0.key.hasPrefix("POST /_sandbox") }, [:],
                           "an old version is recognised before anything is read or written")
            let doc = try await world.document(docID)
            XCTAssertEqual(doc["handle"] as? String, "stool-3")
        }
    }

    /// A 404 that is not Payload's own (a proxy's, while Payload is redeployed behind its ingress)
    /// is a failure that passes, not "the document is gone": the event still reaches the linked
    /// document, no stub is made, the link stays.
    func testAProxys404OnTheLinkedDocumentIsNotTakenForADeletedDocument() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            let (id, docID) = try await world.linkedProduct(tenant, title: "Vase")
            try await world.settle()
            let before = try await world.writes()
            _ = try await world.call("POST", "/_sandbox/script", ["kind": "fail", "endpoint": "GET /payload/api/{collection}/{id}",
                                                                  "status": 404, "from": "proxy", "times": 2])
            try await world.medusa("POST", "/admin/products/\(id)", ["title": "Blue vase"])
            try await world.settle()
            let link = try await world.links(tenant)[id]
            XCTAssertEqual(link, docID, "the link stays with the editor's document")
            let doc = try await world.document(docID)
            XCTAssertEqual(doc["title"] as? String, "Blue vase", "the event reached the linked document")
            let writes = delta(try await world.writes(), before)
            XCTAssertNil(writes["POST /payload/api/{collection}"], "no stub was made: \(writes)")
        }
    }

    /// A linked document that an administrator moved to another tenant is no longer the first
    /// tenant's: its product's events make it a new stub, and leave the moved document alone.
    func testADocumentMovedToAnotherTenantIsNotWrittenByTheFirstTenantsEvents() async throws {
        try await SyncWorld.run { world in
            let (a, b, id, docID) = try await world.productWithItsDocumentMoved(title: "Rug")
            try await world.medusa("POST", "/admin/products/\(id)", ["title": "Red rug"])
            try await world.settle()
            let links = try await world.links(a)
            let linked = try XCTUnwrap(links[id])
            XCTAssertNotEqual(linked, docID, "A's product has a document of its own again")
            let stub = try await world.document(linked)
            XCTAssertEqual(stub["title"] as? String, "Red rug")
            XCTAssertEqual(stub["tenant_id"] as? String, a.uuidString.lowercased())
            let moved = try await world.document(docID)
            XCTAssertEqual(moved["title"] as? String, "Rug", "B's document kept its title")
            XCTAssertEqual(moved["tenant_id"] as? String, b.uuidString.lowercased())
        }
    }

    /// The product of a document moved to another tenant is deleted before any event moved its
    /// link: A's link is archived, and B's document is neither archived nor unpublished.
    func testADeletedProductLeavesItsDocumentMovedToAnotherTenantAlone() async throws {
        try await SyncWorld.run { world in
            let (_, _, id, docID) = try await world.productWithItsDocumentMoved(title: "Lamp", ["_status": "published"])
            let processed = try await world.queue.queue("webhooks")?.processed ?? 0
            try await world.medusa("DELETE", "/admin/products/\(id)")
            try await eventually("the product.deleted event was handled") {
                (try await world.queue.queue("webhooks")?.processed ?? 0) >= processed + 1
            }
            try await world.settle()
            let moved = try await world.document(docID)
            XCTAssertNotEqual(moved["archived"] as? Bool, true, "B's document is not archived")
            XCTAssertEqual(moved["_status"] as? String, "published", "nor unpublished")
        }
    }

    /// A second document naming a linked product (Payload's "Duplicate"), published with other
    /// copy: the link stays with the first, the product keeps its copy, and a reconciliation
    /// compares the product with the linked document, not the copy.
    func testADuplicatedContentDocumentDoesNotTakeOverTheProductsLink() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            let (id, original) = try await world.linkedProduct(tenant, title: "Desk", description: "The desk's copy")
            try await world.settle()

            let processed = try await world.queue.queue("webhooks")?.processed ?? 0
            // Made a draft, edited, then published: its event's version (3) is newer than the link's.
            let copy = try await world.payload("POST", "/api/products-content", [
                "medusa_id": id, "tenant_id": tenant.uuidString.lowercased(), "title": "Desk", "_status": "draft"])
            let copyID = try XCTUnwrap((copy["doc"] as? [String: Any])?["id"] as? Int)
            try await world.payload("PATCH", "/api/products-content/\(copyID)", ["description": "Copy of the desk's copy"])
            try await world.payload("PATCH", "/api/products-content/\(copyID)", ["_status": "published"])
            try await eventually("the copy's content.published was handled") {
                (try await world.queue.queue("webhooks")?.processed ?? 0) >= processed + 1
            }
            try await world.settle()
            let afterEvent = try await world.links(tenant)[id]
            XCTAssertEqual(afterEvent, original, "the link stays with the first document (the copy is \(copyID))")
            let kept = try await world.product(id)
            XCTAssertEqual(kept["description"] as? String, "The desk's copy", "the copy's text did not reach the product")

            let run = try await world.reconcile(tenant, batchSize: 10)
            XCTAssertEqual(run.repaired, 0, "the product and its linked document agree")
            let afterRun = try await world.links(tenant)[id]
            XCTAssertEqual(afterRun, original)
            let still = try await world.product(id)
            XCTAssertEqual(still["description"] as? String, "The desk's copy")
        }
    }

    func testDeletedProductArchivesItsContentAndUploadedMediaIsAttached() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            let (id, docID) = try await world.linkedProduct(tenant, title: "Sofa")
            try await world.payload("PATCH", "/api/products-content/\(docID)", ["_status": "published"])
            try await world.settle()

            let media = try await world.payload("POST", "/api/media", [
                "filename": "sofa.jpg", "alt": "A sofa", "product": Int(docID) ?? 0, "tenant_id": tenant.uuidString.lowercased()])
            let mediaID = try XCTUnwrap((media["doc"] as? [String: Any])?["id"] as? Int)
            try await eventually("the media is attached") {
                (try await world.document(docID)["media"] as? [Int]) == [mediaID]
            }
            // As Payload does by default (depth 2), the sandbox answers relationships as whole
            // documents unless asked for depth=0, as the platform asks: the attach above read ids.
            let populated = try await world.payload("GET", "/api/media/\(mediaID)")
            XCTAssertEqual((populated["product"] as? [String: Any])?["id"] as? Int, Int(docID), "\(populated)")
            try await world.settle()
            let medusaWrites = try await world.writes()["POST /medusa/admin/products/{id}"]
            XCTAssertNil(medusaWrites, "media is content's: nothing is written to Medusa")

            try await world.medusa("DELETE", "/admin/products/\(id)")
            try await eventually("the content is archived") {
                let doc = try await world.document(docID)
                return doc["archived"] as? Bool == true && doc["_status"] as? String == "draft"
            }
            try await world.settle()
            let doc = try await world.document(docID)
            XCTAssertEqual(doc["media"] as? [Int], [mediaID], "the editors' work is kept")
        }
    }

    static func millis(_ value: Any?) throws -> Double {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = try XCTUnwrap((value as? String).flatMap(formatter.date(from:)), "an ISO 8601 time: \(value ?? "nil")")
        return date.timeIntervalSince1970 * 1000
    }
}

/// Bad events get a dead letter that says why; the hourly sweep fans out per tenant.
final class SyncEdgeTests: XCTestCase {
    func testAProductEventWithoutATenantIsDeadLetteredWithTheReason() async throws {
        try await SyncWorld.run { world in
            // Event ids are unique per delivery, across runs too: the inbox keeps every event it saw.
            let run = UUID().uuidString.lowercased()
            try await world.postEvent(source: "medusa", ["id": "evt_no_tenant_\(run)", "type": "product.updated", "data": ["id": "prod_x"]])
            let tenant = try await world.makeTenant()
            try await world.postEvent(source: "medusa", ["id": "evt_no_id_\(run)", "type": "product.created", "data": [String: Any](),
                                                         "tenant_id": tenant.uuidString.lowercased()])
            try await eventually("both are dead letters") { (try await world.queue.queue("webhooks")?.dead ?? 0) == 2 }
            let dead = try await world.queue.deadLetters.list(queue: "webhooks")
            let reasons = dead.entries.compactMap { $0.envelope?.errors.last?.message }.joined(separator: " | ")
            XCTAssertTrue(reasons.contains("needs a tenant"), reasons)
            XCTAssertTrue(reasons.contains("has no data.id"), reasons)
        }
    }

    func testTheHourlyRunWithoutATenantEnqueuesOneReconciliationPerActiveTenant() async throws {
        try await SyncWorld.run(workers: false) { world in
            let a = try await world.makeTenant()
            let b = try await world.makeTenant()
            let job = SyncReconcileJob(database: world.app, connectors: world.connectors)
            let envelope = JobEnvelope(kind: SyncReconcileJob.kind, queue: "sync", args: .object([:]), maxAttempts: 8)
            let context = JobContext(envelope: envelope, logger: SyncWorld.logger)
            try await job.run(.init(batchSize: 100), context: context)
            try await job.run(.init(batchSize: 100), context: context)   // a redelivery fans out nothing twice
            for tenant in [a, b] {
                let queued = try await world.app.withTenant(tenant) { connection in
                    let rows = try await connection.query("SELECT kind, args::text FROM outbox WHERE tenant_id = \(tenant)",
                                                          logger: SyncWorld.logger)
                    var found: [String] = []
                    for try await (kind, args) in rows.decode((String, String).self) { found.append("\(kind) \(args)") }
                    return found
                }
                XCTAssertEqual(queued, ["sync.reconcile {\"batch_size\": 100}"])
            }
            // Leave nothing for another test's relay (cityos work processes drain the whole outbox).
            try await world.app.withPlatformSweep { connection in
                try await connection.query("DELETE FROM outbox WHERE kind = 'sync.reconcile'", logger: SyncWorld.logger)
            }
        }
    }

    func testAReconciliationHeldByAnotherLiveJobIsLeftAloneAndAQuietOneIsTakenOver() async throws {
        try await SyncWorld.run(workers: false) { world in
            let tenant = try await world.makeTenant()
            try await world.app.withTenant(tenant) { connection in
                try await connection.query("""
                    INSERT INTO sync_cursors (tenant_id, name, phase, position, run_job_id, held_by)
                    VALUES (\(tenant), 'products', 'medusa', 0, 'run-1', 'job-1')
                    """, logger: SyncWorld.logger)
            }
            let job = SyncReconcileJob(database: world.app, connectors: world.connectors)
            let notes = Mutex<[String]>([])
            func run() async throws {
                let envelope = JobEnvelope(kind: SyncReconcileJob.kind, queue: "sync", tenant: tenant.uuidString.lowercased(),
                                           args: .object([:]), maxAttempts: 8)
                let context = JobContext(envelope: envelope, logger: SyncWorld.logger) { note in notes.withLock { $0.append(note) } }
                try await job.run(.init(batchSize: 100), context: context)
            }
            try await run()
            let untouched = try await world.cursor(tenant)
            XCTAssertEqual(untouched?.finished, false, "job-1 is alive (its cursor is fresh): left alone")
            let calls = try await world.callCounts()
            XCTAssertEqual(calls, [:], "nothing was read")

            try await world.app.withTenant(tenant) { connection in
                try await connection.query("UPDATE sync_cursors SET updated_at = now() - interval '10 minutes'", logger: SyncWorld.logger)
            }
            try await run()
            let taken = try await world.cursor(tenant)
            XCTAssertEqual(taken?.finished, true, "a quiet run is taken over and finished")
            XCTAssertEqual(notes.withLock { $0 }, ["Payload's documents from page 1: 0 products checked, 0 repaired, 0 conflicts",
                                                   "done: 0 products checked, 0 repaired, 0 conflicts"],
                           "operators see how far it got after each batch")
            XCTAssertEqual(taken?.runJobID, "run-1")
        }
    }
}

private extension SyncWorld {
    /// Tenant A's product, linked, whose document an administrator then moved to tenant B (with
    /// `fields` set besides), all settled: (A, B, product id, document id).
    func productWithItsDocumentMoved(title: String, _ fields: [String: Any] = [:]) async throws
        -> (a: UUID, b: UUID, id: String, docID: String) {
        let a = try await makeTenant()
        let b = try await makeTenant()
        let (id, docID) = try await linkedProduct(a, title: title)
        try await settle()
        try await payload("PATCH", "/api/products-content/\(docID)", fields.merging(["tenant_id": b.uuidString.lowercased()]) { $1 })
        try await settle()
        return (a, b, id, docID)
    }
}
