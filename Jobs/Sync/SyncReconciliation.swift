import Connectors
import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// One tenant's reconciliation: walks Medusa's products in batches, each with its content
/// documents, and repairs what differs (the same decisions as the events: `ProductPair`); then
/// walks Payload's documents and archives those whose product is gone. Each batch is one
/// transaction: the products' locks, the links and conflicts, and the cursor. When both sides
/// agree it writes nothing to Medusa or Payload.
struct SyncReconciliation: Sendable {
    let database: Database
    let medusa: MedusaConnector
    let payload: PayloadConnector
    let logger: Logger
    var collection = PayloadCollection.productsContent
    /// Told after every batch how far the run has got (`JobContext.reportProgress`).
    var progress: @Sendable (String) -> Void = { _ in }
    /// Ids per `in` query (a long URL is refused by Node's 16 KiB header limit).
    static let lookupChunk = 100

    struct Summary: Sendable, Equatable {
        var checked: Int64
        var repaired: Int64
        var conflicts: Int64
        var resumed: Bool
        /// Products an outside service refused for good, logged and left to the next run.
        var skipped: Int64 = 0
    }

    /// `nil` when another job is working on this tenant's run.
    func run(tenant: UUID, batchSize: Int, jobID: String) async throws -> Summary? {
        guard var cursor = try await SyncCursor.resumeOrStart(tenant: tenant, jobID: jobID, database: database, logger: logger) else {
            return nil
        }
        let resumed = cursor.resumed
        if resumed { logger.info("sync.reconcile resumes", metadata: ["phase": "\(cursor.phase.rawValue)", "position": "\(cursor.position)"]) }
        while true {
            let finished: Bool
            switch cursor.phase {
            case .medusa: finished = try await medusaBatch(&cursor, tenant: tenant, batchSize: batchSize, jobID: jobID)
            case .payload: finished = try await payloadBatch(&cursor, tenant: tenant, batchSize: batchSize, jobID: jobID)
            }
            FailPoints.crashIfEnabled("sync.reconcile.after_batch")
            progress(cursor.progressNote(finished: finished))
            if finished { break }
        }
        return Summary(checked: cursor.checked, repaired: cursor.repaired, conflicts: cursor.conflicts, resumed: resumed,
                       skipped: cursor.skipped)
    }

    /// One page of products and their documents; true when the whole run is done (never here).
    private func medusaBatch(_ cursor: inout SyncCursor, tenant: UUID, batchSize: Int, jobID: String) async throws -> Bool {
        let tenantText = tenant.uuidString.lowercased()
        let page = try await medusa.products(limit: batchSize, offset: cursor.position, tenantID: tenantText)
        let products = page.products
        var next = cursor
        next.position += page.listed
        next.checked += Int64(page.listed)
        // A product this build cannot read is skipped, like one its service refuses: failing the run
        // would stop every later run at the same page.
        next.skipped += Int64(page.unreadable.count)
        for bad in page.unreadable {
            logger.warning("sync.reconcile skipped a Medusa product it cannot read; the next run tries it again",
                           metadata: ["medusa_id": "\(bad.id ?? "?")", "error": "\(bad.reason)"])
        }
        if page.listed == 0 || next.position >= page.count {
            next.phase = .payload
            next.position = 1
        }
        let pair = ProductPair(medusa: medusa, payload: payload, collection: collection)
        let (saved, failure) = try await database.withTenantAcrossOutsideCalls(tenant, lane: .batch) { connection -> (SyncCursor, (any Error)?) in
            try await SyncLinks.allowLongOutsideCalls(on: connection, logger: logger)
            try await SyncLinks.lock(products.map(\.id), tenant: tenant, on: connection, logger: logger)
            // Read again under the locks: a product event that held one of them meanwhile may have
            // brought both sides to a newer value, which the page, read before, would take back.
            let current = try await lookUp(products.map(\.id), tenant: tenantText).products
            let links = try await SyncLinks.links(medusaIDs: products.map(\.id), on: connection, logger: logger)
            let docs = try await documents(for: products.map(\.id), tenant: tenantText, links: links, on: connection)
            var changed: [SyncLink] = []
            var conflicts: [(medusaID: String, docID: String?, conflict: SyncConflict)] = []
            var state = next
            var done = 0
            var failure: (any Error)?
            var foreign: [String] = []
            var foreignLinked: [String] = []
            for product in products {
                guard product.metadata?["tenant_id"]?.stringValue == tenantText else {
                    // Listed for this tenant but another's (or no one's): a Medusa that ignored the
                    // platform's filter. Syncing it would copy that tenant's product into this one's
                    // content, and link it here.
                    foreign.append(product.id)
                    if links[product.id] != nil { foreignLinked.append(product.id) }
                    state.skipped += 1
                    done += 1
                    continue
                }
                guard let product = current[product.id], product.metadata?["tenant_id"]?.stringValue == tenantText else {
                    // Gone since the page was read (its product.deleted archives the document), or
                    // unreadable or another's now: the next run looks again.
                    logger.warning("sync.reconcile skipped a product Medusa no longer lists for this tenant; the next run looks again",
                                   metadata: ["medusa_id": "\(product.id)"])
                    state.skipped += 1
                    done += 1
                    continue
                }
                let link = links[product.id]
                if let link, link.archived || Int64(product.version ?? 0) < link.medusaVersion { done += 1; continue }
                let result: ProductPair.Result
                do {
                    result = try await pair.sync(product: product, doc: docs[product.id], link: link, tenant: tenant)
                } catch {
                    if let partial = error as? PartialSync {
                        conflicts += partial.records
                        state.conflicts += Int64(partial.settled.count)
                    }
                    let underlying = (error as? PartialSync)?.underlying ?? error
                    if (underlying as? ConnectorError)?.refusesThisRequest == true {
                        // Refused for good (a validation error, a product gone meanwhile): failing the
                        // attempt would keep the cursor here, and every later run would fail at the
                        // same product, never reaching the ones after it or the archiving phase.
                        logger.warning("sync.reconcile skipped a product its service refused; the next run tries it again",
                                       metadata: ["medusa_id": "\(product.id)", "error": "\(underlying)"])
                        state.skipped += 1
                        done += 1
                        continue
                    }
                    failure = underlying
                    break
                }
                if result.link != link { changed.append(result.link) }
                if result.writes > 0 { state.repaired += 1 }
                state.conflicts += Int64(result.conflicts.count)
                for conflict in result.conflicts {
                    conflicts.append((medusaID: product.id, docID: result.link.payloadDocID, conflict: conflict))
                }
                done += 1
            }
            if let first = foreign.first {
                logger.warning("sync.reconcile skipped products Medusa listed for this tenant that are not this tenant's",
                               metadata: ["tenant": "\(tenantText)", "count": "\(foreign.count)", "first": "\(first)"])
            }
            if !foreignLinked.isEmpty {
                // Linked here by an earlier run (or a product moved to another tenant): this tenant's
                // content holds a copy of another's product. An operator decides what becomes of it.
                logger.error("another tenant's products are linked to this tenant's content documents; not synced, left as they are",
                             metadata: ["tenant": "\(tenantText)", "products": "\(foreignLinked.joined(separator: ","))"])
            }
            if failure != nil {
                // What the products before the failing one did was written outside: keep their links,
                // their conflicts and the cursor at the failing product, then fail the attempt.
                state.phase = cursor.phase
                state.position = cursor.position + done
                state.checked = cursor.checked + Int64(done)
            }
            try await SyncLinks.save(changed, tenant: tenant, on: connection, logger: logger)
            try await SyncLinks.record(conflicts, tenant: tenant, detectedBy: "sync.reconcile", jobID: state.runJobID,
                                       on: connection, logger: logger)
            try await state.save(tenant: tenant, jobID: jobID, on: connection, logger: logger)
            return (state, failure)
        }
        cursor = saved
        if let failure { throw failure }
        return false
    }

    /// The tenant's products of `ids` as Medusa lists them now, `lookupChunk` ids a call: those it
    /// can read, by id, and the ids of those it cannot (they exist all the same).
    private func lookUp(_ ids: [String], tenant: String) async throws -> (products: [String: MedusaProduct], unreadable: Set<String>) {
        var found: (products: [String: MedusaProduct], unreadable: Set<String>) = ([:], [])
        for chunk in ids.chunked(Self.lookupChunk) {
            let page = try await medusa.products(limit: chunk.count, tenantID: tenant, ids: chunk)
            for product in page.products { found.products[product.id] = product }
            found.unreadable.formUnion(page.unreadable.compactMap(\.id))
        }
        return found
    }

    /// One page of content documents: those whose product no longer exists are archived.
    private func payloadBatch(_ cursor: inout SyncCursor, tenant: UUID, batchSize: Int, jobID: String) async throws -> Bool {
        let tenantText = tenant.uuidString.lowercased()
        // Oldest first: documents made while the run pages through (stubs of new products) come
        // last, instead of shifting the pages still to read (Payload's default is newest first).
        let page = try await payload.find(JSON.self, in: collection, matching: [.equals("tenant_id", tenantText)],
                                          limit: batchSize, page: cursor.position, sort: "createdAt")
        var live: [String: String] = [:]   // medusa id → document id, for documents not archived
        for doc in page.docs where doc["archived"] != .bool(true) {
            if let medusaID = doc["medusa_id"]?.stringValue, let docID = doc["id"]?.idValue { live[medusaID] = docID }
        }
        // One it cannot read exists all the same: its document is kept.
        let found = try await lookUp(Array(live.keys).sorted(), tenant: tenantText)
        let existing = Set(found.products.keys).union(found.unreadable)
        // Archiving unpublishes an editor's document: each product the list lookup did not return
        // is asked for by its id, and only a 404 counts as gone.
        var gone: [String] = []
        for medusaID in live.keys.filter({ !existing.contains($0) }).sorted() {
            let product: MedusaProduct?
            do throws(ConnectorError) {
                product = try await orNil { () async throws(ConnectorError) -> MedusaProduct in try await medusa.product(id: medusaID) }
            } catch {
                // Medusa answered with the product and this build cannot read it (a price finer than
                // its currency, or another tenant's product the lookup left out): it exists, and
                // failing here would stop every later run at this page.
                guard case .unexpectedResponse(_, let status, _) = error, (200..<300).contains(status) else { throw error }
                logger.warning("a content document names a product this build cannot read; the document is kept",
                               metadata: ["medusa_id": "\(medusaID)", "error": "\(error)"])
                continue
            }
            if product == nil { gone.append(medusaID) } else {
                logger.warning("the product lookup missed a product that exists; its document is kept",
                               metadata: ["medusa_id": "\(medusaID)"])
            }
        }
        var next = cursor
        next.position += 1
        let finished = !page.hasNextPage
        let pair = ProductPair(medusa: medusa, payload: payload, collection: collection)
        let saved = try await database.withTenantAcrossOutsideCalls(tenant, lane: .batch) { connection in
            try await SyncLinks.allowLongOutsideCalls(on: connection, logger: logger)
            try await SyncLinks.lock(gone, tenant: tenant, on: connection, logger: logger)
            let links = try await SyncLinks.links(medusaIDs: gone, on: connection, logger: logger)
            var archived: [SyncLink] = []
            var state = next
            let owners = try await SyncLinks.medusaIDs(payloadDocIDs: gone.compactMap { live[$0] }, activeOnly: true,
                                                       on: connection, logger: logger)
            for medusaID in gone {
                guard let docID = live[medusaID] else { continue }
                if let owner = owners[docID], owner != medusaID {
                    // Linked to a product that exists (its link not archived), and named another
                    // by hand: it is that one's.
                    logger.warning("a content document names a product that is gone but is linked to another: kept", metadata: [
                        "document": "\(docID)", "named": "\(medusaID)", "linked_product": "\(owner)"])
                    continue
                }
                try await pair.archive(docID: docID)
                state.repaired += 1
                var link = links[medusaID] ?? SyncLink(medusaID: medusaID, payloadDocID: docID, medusaVersion: 0,
                                                       payloadVersion: 0, synced: [:])
                link.archived = true
                archived.append(link)
            }
            try await SyncLinks.save(archived, tenant: tenant, on: connection, logger: logger)
            try await state.save(tenant: tenant, jobID: jobID, finished: finished, on: connection, logger: logger)
            return state
        }
        cursor = saved
        return finished
    }

    /// The content documents of these products, by medusa id: the linked one where a product has
    /// a link (a copy naming the same product is not it), else the oldest if there are several,
    /// of those not linked to another product.
    private func documents(for medusaIDs: [String], tenant: String, links: [String: SyncLink],
                           on connection: PostgresConnection) async throws -> [String: JSON] {
        var named: [JSON] = []
        for chunk in medusaIDs.chunked(Self.lookupChunk) {
            named += try await payload.find(JSON.self, in: collection,
                                            matching: [.equals("tenant_id", tenant), .isIn("medusa_id", chunk)],
                                            limit: chunk.count * 2, sort: "createdAt").docs
        }
        // A document's `medusa_id` is typed by people: one an editor pointed at another product
        // stays its linked product's, or two products would sync into it (and the second link would
        // break the one-product-per-document index, failing the batch at every run).
        let owners = try await SyncLinks.medusaIDs(payloadDocIDs: named.compactMap { $0["id"]?.idValue }, on: connection,
                                                   logger: logger)
        var oldest: [String: JSON] = [:]
        var linked: [String: JSON] = [:]
        for doc in named {
            guard let id = doc["medusa_id"]?.stringValue, let docID = doc["id"]?.idValue else { continue }
            if let link = links[id], docID == link.payloadDocID { linked[id] = doc }
            if oldest[id] == nil, owners[docID] ?? id == id { oldest[id] = doc }
        }
        // A linked document the page left out (more copies than the page holds) is read by its
        // id: the oldest of the others is not it, and would take over the link.
        for (id, link) in links where linked[id] == nil && !link.archived {
            let doc = try await orNil { () async throws(ConnectorError) -> JSON in
                try await payload.document(JSON.self, in: collection, id: link.payloadDocID)
            }
            if let doc, doc["tenant_id"]?.stringValue == tenant { linked[id] = doc }
        }
        return oldest.merging(linked) { _, linked in linked }
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: Swift.max(1, size)).map { Array(self[$0..<Swift.min(count, $0 + size)]) }
    }
}
