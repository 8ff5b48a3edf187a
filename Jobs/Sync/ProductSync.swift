import Connectors
import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// Syncs one product at a time on events: a Medusa product and its Payload content document.
/// Each method runs in one tenant transaction that first takes the product's lock, so handlers
/// of the same product (an editor's publish racing a price change, our own echoes) run one after
/// the other; the calls to Medusa and Payload happen inside it and the link row commits last.
/// Every method is safe to run twice with the same event: it compares what both sides hold.
struct ProductSync: Sendable {
    let database: Database
    let medusa: MedusaConnector
    let payload: PayloadConnector
    let logger: Logger
    var collection = PayloadCollection.productsContent

    /// `product.created` / `product.updated`: pushes commerce-owned fields to the content document
    /// (created as a draft stub the first time), and resolves conflicts.
    func commerceChanged(tenant: UUID, productID: String, eventVersion: Int64?, jobID: String) async throws -> WebhookOutcome {
        try await keepingSettled(tenant: tenant, detectedBy: "product.event", jobID: jobID) { try await database.withTenantAcrossOutsideCalls(tenant, lane: .sync) { connection in
            try await SyncLinks.lock([productID], tenant: tenant, on: connection, logger: logger)
            let link = try await SyncLinks.link(medusaID: productID, on: connection, logger: logger)
            if let link, link.archived { return .ignored }
            if let link, let eventVersion, eventVersion <= link.medusaVersion { return .ignored }   // an old event
            guard let product = try await orNil({ () async throws(ConnectorError) -> MedusaProduct in
                try await medusa.product(id: productID)
            }) else { return .ignored }
            guard owned(product, by: tenant) else { return .ignored }
            if let link, Int64(product.version ?? 0) < link.medusaVersion { return .ignored }       // a stale read
            if var link, ProductFields.commerceView(product) == link.synced {
                // Nothing Medusa holds differs from the last agreement: our own write coming back.
                link.medusaVersion = max(link.medusaVersion, Int64(product.version ?? 0))
                try await SyncLinks.save([link], tenant: tenant, on: connection, logger: logger)
                return .ignored
            }
            let doc = try await contentDocument(link: link, productID: productID, tenant: tenant, on: connection)
            let result = try await ProductPair(medusa: medusa, payload: payload, collection: collection)
                .sync(product: product, doc: doc, link: link, tenant: tenant)
            try await commit(result, tenant: tenant, detectedBy: "product.event", jobID: jobID, connection)
            return .processed
        } }
    }

    /// `product.deleted`: the content document is archived (unpublished, `archived: true`), not
    /// deleted — editors' copy and media survive, and the link remembers it.
    func commerceDeleted(tenant: UUID, productID: String, jobID: String) async throws -> WebhookOutcome {
        try await database.withTenantAcrossOutsideCalls(tenant, lane: .sync) { connection in
            try await SyncLinks.lock([productID], tenant: tenant, on: connection, logger: logger)
            guard var link = try await SyncLinks.link(medusaID: productID, on: connection, logger: logger), !link.archived else {
                return .ignored
            }
            // Only the tenant's own document: one moved to another tenant since is that tenant's now.
            if try await document(link.payloadDocID, of: tenant) != nil {
                try await ProductPair(medusa: medusa, payload: payload, collection: collection).archive(docID: link.payloadDocID)
            }
            link.archived = true
            try await SyncLinks.save([link], tenant: tenant, on: connection, logger: logger)
            return .processed
        }
    }

    /// `content.published`: pushes content-owned fields to the Medusa product, and resolves conflicts.
    func contentChanged(tenant: UUID, docID: String, eventVersion: Int64?, jobID: String) async throws -> WebhookOutcome {
        var firstRead: JSON? = nil
        var productID = try await database.withTenant(tenant) { connection in
            try await SyncLinks.medusaID(payloadDocID: docID, on: connection, logger: logger)
        }
        if productID == nil {
            let fetched = try await document(docID, of: tenant)
            firstRead = fetched
            productID = fetched?["medusa_id"]?.stringValue
        }
        guard let productID else { return .ignored }   // not a product's content
        let known = firstRead
        return try await keepingSettled(tenant: tenant, detectedBy: "content.event", jobID: jobID) { try await database.withTenantAcrossOutsideCalls(tenant, lane: .sync) { connection in
            try await SyncLinks.lock([productID], tenant: tenant, on: connection, logger: logger)
            let link = try await SyncLinks.link(medusaID: productID, on: connection, logger: logger)
            if let link, link.archived { return .ignored }
            if let link, link.payloadDocID != docID {
                // A second document naming a product linked to another (Payload's "Duplicate", an
                // import): syncing it would move the link to it, and its copy would overwrite the
                // product's, while the linked document's publishes were then ignored.
                logger.warning("a content document names a product already linked to another document: not synced", metadata: [
                    "tenant": "\(tenant)", "product": "\(productID)", "document": "\(docID)", "linked_document": "\(link.payloadDocID)"])
                return .ignored
            }
            if let link, let eventVersion, eventVersion <= link.payloadVersion { return .ignored }   // an old event
            var fetched = known
            if link != nil || known == nil { fetched = try await document(docID, of: tenant) }
            guard let doc = fetched else { return .ignored }
            if let link, ProductFields.version(doc) < link.payloadVersion { return .ignored }         // a stale read
            if var link, ProductFields.contentView(doc) == link.synced {
                link.payloadVersion = max(link.payloadVersion, ProductFields.version(doc))
                try await SyncLinks.save([link], tenant: tenant, on: connection, logger: logger)
                return .ignored
            }
            guard let product = try await orNil({ () async throws(ConnectorError) -> MedusaProduct in
                try await medusa.product(id: productID)
            }) else { return .ignored }
            guard owned(product, by: tenant) else { return .ignored }
            let result = try await ProductPair(medusa: medusa, payload: payload, collection: collection)
                .sync(product: product, doc: doc, link: link, tenant: tenant)
            try await commit(result, tenant: tenant, detectedBy: "content.event", jobID: jobID, connection)
            return .processed
        } }
    }

    /// Whether `product` is `tenant`'s (its `metadata.tenant_id`, how a multi-tenant Medusa scopes
    /// products). Medusa's admin API reads any product by id, and a content document's `medusa_id`
    /// is typed, imported or copied by people: without this check, tenant A's document naming
    /// tenant B's product wrote A's copy into B's product and B's prices into A's document.
    private func owned(_ product: MedusaProduct, by tenant: UUID) -> Bool {
        let owner = product.metadata?["tenant_id"]?.stringValue
        guard owner == tenant.uuidString.lowercased() else {
            logger.warning("a product event or content document of one tenant names a product of another (or of none): not synced",
                           metadata: ["tenant": "\(tenant)", "product": "\(product.id)", "product_tenant": "\(owner ?? "none")"])
            return false
        }
        return true
    }

    /// `media.uploaded`: a `media` document naming a content document (`product`) is attached to
    /// that document's `media`, once.
    func mediaUploaded(tenant: UUID, mediaID: String, jobID: String) async throws -> WebhookOutcome {
        guard let media = try await document(mediaID, in: "media"), let docID = media["product"]?.idValue else {
            return .ignored
        }
        guard let productID = try await database.withTenant(tenant, { connection in
            try await SyncLinks.medusaID(payloadDocID: docID, on: connection, logger: logger)
        }) else { return .ignored }
        return try await database.withTenantAcrossOutsideCalls(tenant, lane: .sync) { connection in
            try await SyncLinks.lock([productID], tenant: tenant, on: connection, logger: logger)
            guard var link = try await SyncLinks.link(medusaID: productID, on: connection, logger: logger),
                  let doc = try await document(docID, of: tenant) else { return .ignored }
            var attached: [JSON] = []
            if case .array(let existing)? = doc["media"] { attached = existing }
            if attached.contains(where: { $0.idValue == mediaID }) { return .ignored }
            attached.append(media["id"] ?? .string(mediaID))
            let updated: JSON = try await payload.update(id: docID, ["media": JSON.array(attached)], in: collection)
            if ProductFields.contentView(updated) == link.synced {   // only media changed: its echo is ours
                link.payloadVersion = max(link.payloadVersion, ProductFields.version(updated))
                try await SyncLinks.save([link], tenant: tenant, on: connection, logger: logger)
            }
            return .processed
        }
    }

    /// Runs `body`. A `PartialSync` (the content document written, Medusa's write failed) rolled its
    /// transaction back, so the conflicts that write settled are recorded in one of their own
    /// before the failure is passed on (the retry would find those fields agreeing, and never know).
    private func keepingSettled<T: Sendable>(tenant: UUID, detectedBy: String, jobID: String,
                                             _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let partial as PartialSync {
            try await database.withTenant(tenant) { connection in
                try await SyncLinks.record(partial.records, tenant: tenant, detectedBy: detectedBy, jobID: jobID,
                                           on: connection, logger: logger)
            }
            throw partial.underlying
        }
    }

    private func commit(_ result: ProductPair.Result, tenant: UUID, detectedBy: String, jobID: String,
                        _ connection: PostgresConnection) async throws {
        try await SyncLinks.save([result.link], tenant: tenant, on: connection, logger: logger)
        let conflicts = result.conflicts.map { conflict -> (medusaID: String, docID: String?, conflict: SyncConflict) in
            (medusaID: result.link.medusaID, docID: result.link.payloadDocID, conflict: conflict)
        }
        try await SyncLinks.record(conflicts, tenant: tenant,
                                   detectedBy: detectedBy, jobID: jobID, on: connection, logger: logger)
        if !result.conflicts.isEmpty {
            logger.info("sync conflicts resolved", metadata: [
                "medusa_id": "\(result.link.medusaID)", "fields": "\(result.conflicts.map(\.field).joined(separator: ","))"])
        }
    }

    /// The product's content document: by its link, else found by `medusa_id` (a stub created
    /// by an attempt that died before its commit), else none.
    private func contentDocument(link: SyncLink?, productID: String, tenant: UUID,
                                 on connection: PostgresConnection) async throws -> JSON? {
        if let link { return try await document(link.payloadDocID, of: tenant) }
        // The oldest, as the reconciliation takes it (Payload's default order is newest first), of
        // those not linked to another product: an editor may have pointed one at this product by
        // hand, and it stays its own product's.
        let page = try await payload.find(JSON.self, in: collection, matching: [
            .equals("medusa_id", productID), .equals("tenant_id", tenant.uuidString.lowercased())], limit: 10, sort: "createdAt")
        let owners = try await SyncLinks.medusaIDs(payloadDocIDs: page.docs.compactMap { $0["id"]?.idValue }, on: connection,
                                                   logger: logger)
        return page.docs.first { doc in doc["id"]?.idValue.map { owners[$0] ?? productID == productID } ?? false }
    }

    /// Content document `id` if it is `tenant`'s, else none. Payload reads any document by id, and
    /// a document's `tenant_id` can change after it was linked (moved by an administrator,
    /// overwritten by an import): without this check, tenant A's product events went on writing
    /// A's prices into what had become B's document, and B's copy into A's product.
    private func document(_ id: String, of tenant: UUID) async throws -> JSON? {
        guard let doc = try await document(id) else { return nil }
        let owner = doc["tenant_id"]?.stringValue
        guard owner == tenant.uuidString.lowercased() else {
            logger.warning("a content document linked to or named for one tenant is another's (or no one's): taken as missing", metadata: [
                "tenant": "\(tenant)", "document": "\(id)", "document_tenant": "\(owner ?? "none")"])
            return nil
        }
        return doc
    }

    private func document(_ id: String, in collection: String? = nil) async throws -> JSON? {
        let collection = collection ?? self.collection
        return try await orNil { () async throws(ConnectorError) -> JSON in
            try await payload.document(JSON.self, in: collection, id: id)
        }
    }
}

/// The value, or `nil` when the service answers that it does not exist.
func orNil<T: Sendable>(_ call: () async throws(ConnectorError) -> T) async throws(ConnectorError) -> T? {
    do throws(ConnectorError) { return try await call() } catch {
        if case .notFound = error { return nil }
        throw error
    }
}
