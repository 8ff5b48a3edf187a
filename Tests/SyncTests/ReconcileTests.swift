import CityOSTesting
import Foundation
import Jobs
import PostgresNIO
import Queue
import XCTest

/// `sync.reconcile` over thousands of products, against the sandbox over real HTTP.
final class ReconcileTests: XCTestCase {
    func testReconcilingFiveThousandProductsWithFiftyDriftedRepairsExactlyThoseFifty() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            try await world.setWebhooks(false)   // drift that no event reports
            let (products, docs) = try await world.seed(tenant, count: 5_000)

            // Both sides agree but nothing is linked yet: the first run links, and writes nothing.
            let start = try await world.writes()
            var clock = ContinuousClock.now
            let first = try await world.reconcile(tenant, batchSize: 500)
            print("sync: reconcile 5000 in-step products (first run, links them): \(ContinuousClock.now - clock)")
            XCTAssertEqual(first.checked, 5_000)
            XCTAssertEqual(first.repaired, 0)
            let afterFirst = try await world.writes()
            XCTAssertEqual(delta(afterFirst, start), [:], "both sides agreed: nothing written")
            let linked = try await world.links(tenant).count
            XCTAssertEqual(linked, 5_000)

            // 50 drift: 20 handles changed in Medusa, 20 descriptions and 10 handles changed in Payload.
            for i in 0..<20 { try await world.medusa("POST", "/admin/products/\(products[i * 100])", ["handle": "drifted-\(i)"]) }
            for i in 20..<40 { try await world.payload("PATCH", "/api/products-content/\(docs[i * 100])", ["description": "edited \(i)"]) }
            for i in 40..<50 { try await world.payload("PATCH", "/api/products-content/\(docs[i * 100])", ["handle": "editor-\(i)"]) }
            let drifted = try await world.writes()

            clock = ContinuousClock.now
            let second = try await world.reconcile(tenant, batchSize: 500)
            print("sync: reconcile 5000 products with 50 drifted: \(ContinuousClock.now - clock)")
            let repairs = delta(try await world.writes(), drifted)
            XCTAssertEqual(repairs, ["PATCH /payload/api/{collection}/{id}": 30, "POST /medusa/admin/products/{id}": 20],
                           "exactly the 50 drifted products, one write each")
            XCTAssertEqual(second.repaired, 50)
            for i in 0..<20 {
                let doc = try await world.document(docs[i * 100])
                XCTAssertEqual(doc["handle"] as? String, "drifted-\(i)", "commerce's handle reached content")
            }
            for i in 20..<40 {
                let product = try await world.product(products[i * 100])
                XCTAssertEqual(product["description"] as? String, "edited \(i)", "content's description reached commerce")
            }
            for i in 40..<50 {
                let doc = try await world.document(docs[i * 100])
                XCTAssertEqual(doc["handle"] as? String, "seed-product-\(i * 100)", "content may not change commerce's handle")
            }
            let conflicts = try await world.conflicts(tenant)
            XCTAssertEqual(conflicts.count, 10)
            XCTAssertEqual(Set(conflicts.map(\.medusaID)), Set((40..<50).map { products[$0 * 100] }))
            XCTAssertTrue(conflicts.allSatisfy { $0.field == "handle" && $0.winner == "commerce" && $0.reason.contains("restored") })

            // In step again: a third run writes nothing.
            let beforeThird = try await world.writes()
            let third = try await world.reconcile(tenant, batchSize: 500)
            XCTAssertEqual(third.repaired, 0)
            let afterThird = try await world.writes()
            XCTAssertEqual(delta(afterThird, beforeThird), [:])
        }
    }

    /// A batch that fails at one product (Medusa cannot take a write just now) after others were
    /// repaired: the earlier products' repairs happened outside and their conflicts must be kept, as
    /// must the conflict settled by the failing product's own first write; the retry resumes at it.
    func testAFailureMidBatchKeepsTheConflictsAlreadySettled() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            try await world.setWebhooks(false)
            let (products, docs) = try await world.seed(tenant, count: 10)
            _ = try await world.reconcile(tenant, batchSize: 10)   // links them

            // Product 2: an editor changed commerce's handle (restored in Payload: a conflict).
            try await world.payload("PATCH", "/api/products-content/\(docs[2])", ["handle": "editor-2"])
            // Product 5: the same, and content's description, which then goes to Medusa: unavailable for
            // the attempt's first send and both of the transport's resends (setting fields is idempotent,
            // so the transport resends it), so the attempt fails there.
            try await world.payload("PATCH", "/api/products-content/\(docs[5])", ["handle": "editor-5", "description": "edited 5"])
            _ = try await world.call("POST", "/_sandbox/script",
                                     ["kind": "fail", "endpoint": "POST /medusa/admin/products/{id}", "status": 503, "times": 3])

            let before = try await world.writes()
            let run = try await world.reconcile(tenant, batchSize: 10)
            let afterRun = try await world.writes()
            let posts = delta(afterRun, before)["POST /medusa/admin/products/{id}"]
            XCTAssertEqual(posts, 4, "three refused sends (the failed attempt), then the retry's one")
            XCTAssertEqual(run.repaired, 2)
            let conflicts = try await world.conflicts(tenant)
            XCTAssertEqual(Set(conflicts.map(\.medusaID)), [products[2], products[5]], "\(conflicts)")
            XCTAssertEqual(conflicts.count, 2, "each once: \(conflicts)")
            XCTAssertTrue(conflicts.allSatisfy { $0.field == "handle" && $0.winner == "commerce" })
            let product = try await world.product(products[5])
            XCTAssertEqual(product["description"] as? String, "edited 5", "the retry finished the refused write")
            let doc = try await world.document(docs[5])
            XCTAssertEqual(doc["handle"] as? String, "seed-product-5")
        }
    }

    /// A batch reads its products again once it holds their locks: a change made while it waited
    /// for one (a product event syncing it holds it) is what it syncs, not the page it read before,
    /// which would have taken the newer value back, or, as here, missed it.
    func testABatchSyncsTheProductAsItIsOnceItHoldsItsLock() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            try await world.setWebhooks(false)
            let (products, docs) = try await world.seed(tenant, count: 1)
            _ = try await world.reconcile(tenant, batchSize: 10)   // links it
            let key = "sync:\(tenant.uuidString.lowercased()):\(products[0])"
            let job = try await world.app.withTenant(tenant) { connection -> String in
                for try await _ in try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(key), 0))",
                                                              logger: SyncWorld.logger) {}
                let job = try await world.enqueueReconcile(tenant, batchSize: 10)
                try await eventually("the batch to wait for the product's lock") {
                    let waiting = try await world.app.withPlatformSweep { sweep -> Int64 in
                        let rows = try await sweep.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                                                         logger: SyncWorld.logger)
                        var count: Int64 = 0
                        for try await value in rows.decode(Int64.self) { count = value }
                        return count
                    }
                    return waiting > 0
                }
                try await world.medusa("POST", "/admin/products/\(products[0])", ["title": "Renamed while the batch waited"])
                return job
            }
            try await world.awaitReconciliation(tenant, job: job, timeout: .seconds(60))
            let doc = try await world.document(docs[0])
            XCTAssertEqual(doc["title"] as? String, "Renamed while the batch waited")
        }
    }

    /// A document an editor pointed at another product (its `medusa_id` changed by hand) stays with
    /// its linked product: the other product gets a stub of its own, and the run finishes. Before,
    /// both products synced into it, and the second link broke the one-product-per-document index,
    /// failing the batch at every run.
    func testADocumentPointedAtAnotherProductByHandStaysWithItsLinkedProduct() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            try await world.setWebhooks(false)
            let (products, docs) = try await world.seed(tenant, count: 1)
            _ = try await world.reconcile(tenant, batchSize: 10)   // links it
            let created = try await world.createProduct(tenant, title: "Other")   // no event: no stub yet
            let other = try XCTUnwrap(created["id"] as? String)
            try await world.payload("PATCH", "/api/products-content/\(docs[0])", ["medusa_id": other])
            let run = try await world.reconcile(tenant, batchSize: 10, timeout: .seconds(30))
            XCTAssertTrue(run.finished)
            let links = try await world.links(tenant)
            XCTAssertEqual(links[products[0]], docs[0], "the document stays with its linked product")
            let stub = try XCTUnwrap(links[other], "the other product has a document of its own")
            XCTAssertNotEqual(stub, docs[0])
            let title = try await world.document(stub)["title"] as? String
            XCTAssertEqual(title, "Other")
        }
    }

    /// A document naming a product the tenant's lookup leaves out (another tenant's) and that this
    /// build cannot read (a price finer than its currency) is kept, and the run finishes: the
    /// product exists. Before, that page failed at every run and archiving never finished.
    func testADocumentNamingAProductThisBuildCannotReadIsKeptAndTheRunFinishes() async throws {
        try await SyncWorld.run { world in
            let a = try await world.makeTenant()
            let b = try await world.makeTenant()
            try await world.setWebhooks(false)
            let created = try await world.medusa("POST", "/admin/products", [
                "title": "B's scale", "status": "published", "metadata": ["tenant_id": b.uuidString.lowercased()],
                "variants": [["title": "Default", "sku": "SKU-scale", "inventory_quantity": 1,
                              "prices": [["amount": 10.005, "currency_code": "usd"]]]]])
            let id = try XCTUnwrap((created["product"] as? [String: Any])?["id"] as? String)
            let doc = try await world.payload("POST", "/api/products-content", [
                "tenant_id": a.uuidString.lowercased(), "medusa_id": id, "title": "A's scale", "_status": "published"])
            let docID = try XCTUnwrap(((doc["doc"] as? [String: Any])?["id"]).map { "\($0)" })
            let run = try await world.reconcile(a, batchSize: 10, timeout: .seconds(30))
            XCTAssertTrue(run.finished)
            let kept = try await world.document(docID)
            XCTAssertNotEqual(kept["archived"] as? Bool, true, "the document of a product that exists is kept")
        }
    }

    /// A product whose write Medusa refuses for good (a validation error) is skipped, logged and
    /// counted, and the run goes on: before, the attempt failed there, the cursor stayed, and every
    /// later run failed at the same product, never reaching the ones after it.
    func testAProductRefusedForGoodIsSkippedAndTheRunGoesOn() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            try await world.setWebhooks(false)
            let (products, docs) = try await world.seed(tenant, count: 10)
            _ = try await world.reconcile(tenant, batchSize: 10)
            for i in [2, 7] {
                try await world.payload("PATCH", "/api/products-content/\(docs[i])", ["description": "edited \(i)"])
            }
            _ = try await world.call("POST", "/_sandbox/script",
                                     ["kind": "fail", "endpoint": "POST /medusa/admin/products/{id}", "status": 400, "times": 1])

            let run = try await world.reconcile(tenant, batchSize: 5)
            XCTAssertEqual(run.checked, 10, "the run went past the refused product")
            let refused = try await world.product(products[2])
            XCTAssertNotEqual(refused["description"] as? String, "edited 2", "product 2's write was refused")
            let later = try await world.product(products[7])
            XCTAssertEqual(later["description"] as? String, "edited 7", "the product after it was reconciled")

            let next = try await world.reconcile(tenant, batchSize: 5)
            XCTAssertEqual(next.repaired, 1, "the next run tries the skipped product again")
            let fixed = try await world.product(products[2])
            XCTAssertEqual(fixed["description"] as? String, "edited 2")
        }
    }

    /// A Medusa that ignores the platform's `tenant_id` filter lists every tenant's products to
    /// each tenant's run: the others' are skipped, neither copied into this tenant's content nor
    /// linked here, and nothing of theirs is written.
    func testProductsOfAnotherTenantListedByMedusaAreNotSynced() async throws {
        try await SyncWorld.run { world in
            let a = try await world.makeTenant()
            let b = try await world.makeTenant()
            try await world.setWebhooks(false)
            let (aProducts, _) = try await world.seed(a, count: 5)
            let (bProducts, _) = try await world.seed(b, count: 5)
            _ = try await world.call("POST", "/_sandbox/medusa/filters", ["tenant_id": false])

            let before = try await world.writes()
            let run = try await world.reconcile(a, batchSize: 20)
            XCTAssertEqual(run.checked, 10, "Medusa listed both tenants' products")
            let links = try await world.links(a)
            XCTAssertEqual(Set(links.keys), Set(aProducts), "only tenant A's products are linked under A")
            let after = try await world.writes()
            XCTAssertEqual(delta(after, before), [:], "A's were in step; B's were not touched")
            for product in bProducts {
                let docs = try await world.documents(of: product)
                XCTAssertEqual(docs.count, 1, "B's product still has only its own document: \(docs)")
            }
        }
    }

    /// Products deleted in Medusa have their documents archived, and only they: the lookup of the
    /// documents' products must reach Medusa as a list of ids (`id[]`), or every document of a
    /// lookup would look orphaned and be unpublished.
    func testOnlyTheDocumentsOfDeletedProductsAreArchived() async throws {
        try await SyncWorld.run { world in
            let tenant = try await world.makeTenant()
            try await world.setWebhooks(false)
            let (products, docs) = try await world.seed(tenant, count: 10)
            _ = try await world.reconcile(tenant, batchSize: 10)
            for i in [3, 7] { _ = try await world.medusa("DELETE", "/admin/products/\(products[i])") }

            let run = try await world.reconcile(tenant, batchSize: 10)
            XCTAssertEqual(run.repaired, 2, "the two documents archived, nothing else written")
            for (i, doc) in docs.enumerated() {
                let archived = try await world.document(doc)["archived"] as? Bool ?? false
                XCTAssertEqual(archived, [3, 7].contains(i), "document \(i)")
            }
        }
    }

    func testAReconciliationKilledHalfwayResumesFromItsCursor() async throws {
        try await SyncWorld.run(workers: false) { world in
            let tenant = try await world.makeTenant()
            try await world.setWebhooks(false)
            let (products, docs) = try await world.seed(tenant, count: 1_000)
            // Drift in the first batch (0..<250) and in the third (500..<750).
            try await world.medusa("POST", "/admin/products/\(products[10])", ["handle": "drift-10"])
            try await world.payload("PATCH", "/api/products-content/\(docs[20])", ["description": "edited 20"])
            try await world.medusa("POST", "/admin/products/\(products[600])", ["handle": "drift-600"])
            try await world.payload("PATCH", "/api/products-content/\(docs[700])", ["description": "edited 700"])
            let start = try await world.callCounts()

            let environment = try SyncWorld.environment(sandboxURL: world.sandboxURL, namespace: world.queue.namespace)
                .merging(["CITYOS_WORKERS_HEARTBEAT_TTL_SECONDS": "1", "CITYOS_LOG_LEVEL": "info"]) { $1 }
            let job = try await world.enqueueReconcile(tenant, batchSize: 250)

            // 1. A worker dies right after committing its first batch.
            let crashing = try ChildProcess(arguments: ["work", "--queues", "sync", "--concurrency", "1"],
                                            environment: environment.merging(["CITYOS_FAILPOINTS": "sync.reconcile.after_batch"]) { $1 })
            let status = try await crashing.waitForExit(timeout: .seconds(60))
            XCTAssertNotEqual(status, 0)
            XCTAssertTrue(crashing.log.contains("failpoint sync.reconcile.after_batch"), "log: \(crashing.logPath)")
            let halfway = try await world.cursor(tenant)
            XCTAssertEqual(halfway?.runJobID, job)
            XCTAssertEqual(halfway?.phase, "medusa")
            XCTAssertEqual(halfway?.position, 250, "the first batch committed, cursor and all")
            XCTAssertEqual(halfway?.finished, false)
            let afterCrash = delta(try await world.callCounts(), start)
            XCTAssertEqual(afterCrash["PATCH /payload/api/{collection}/{id}"], 1, "batch 1's drift repaired before the crash")
            XCTAssertEqual(afterCrash["POST /medusa/admin/products/{id}"], 1)

            // 2. A healthy worker takes the recovered job over and resumes from the cursor.
            let worker = try ChildProcess(arguments: ["work", "--queues", "sync", "--concurrency", "1"], environment: environment)
            defer { worker.signal(SIGKILL) }
            try await eventually(timeout: .seconds(90), "the reconciliation finished; log: \(worker.logPath)") {
                try await world.cursor(tenant)?.finished == true
            }
            XCTAssertTrue(worker.log.contains("sync.reconcile resumes"), "log: \(worker.logPath)")
            let cursor = try await world.cursor(tenant)
            XCTAssertEqual(cursor?.runJobID, job)
            XCTAssertEqual(cursor?.checked, 1_000)
            XCTAssertEqual(cursor?.repaired, 4)
            let total = delta(try await world.callCounts(), start)
            XCTAssertEqual(total["PATCH /payload/api/{collection}/{id}"], 2, "each drifted product repaired once")
            XCTAssertEqual(total["POST /medusa/admin/products/{id}"], 2)
            XCTAssertNil(total["POST /payload/api/{collection}"])
            // Medusa pages: 4 batches of 250, each read once (a restart would read the first again),
            // and read again under their locks (100 ids a call: 3 lookups each), plus the document
            // walk's existence checks: 4 pages of 250 documents, 3 lookups each.
            XCTAssertEqual(total["GET /medusa/admin/products"], 4 + 4 * 3 + 4 * 3)
            let links = try await world.links(tenant).count
            XCTAssertEqual(links, 1_000)
            let doc600 = try await world.document(docs[600])
            XCTAssertEqual(doc600["handle"] as? String, "drift-600")
            let product700 = try await world.product(products[700])
            XCTAssertEqual(product700["description"] as? String, "edited 700")
            worker.signal(SIGTERM)
            _ = try await worker.waitForExit()
        }
    }
}
