import Connectors
import Foundation
import Queue

/// One product and its content document brought into agreement: the stub created if there is no
/// document, else the plan (`SyncPlan`) carried out — at most one write to each side. Shared by
/// the event handlers and the reconciliation; the caller holds the product's lock and commits
/// the link it returns.
struct ProductPair: Sendable {
    let medusa: MedusaConnector
    let payload: PayloadConnector
    let collection: String

    struct Result: Sendable {
        var link: SyncLink
        var conflicts: [SyncConflict]
        /// Calls that changed Medusa or Payload (0 when both sides already agreed).
        var writes: Int
    }

    func sync(product: MedusaProduct, doc: JSON?, link: SyncLink?, tenant: UUID) async throws -> Result {
        let commerce = ProductFields.commerceView(product)
        let medusaVersion = max(link?.medusaVersion ?? 0, Int64(product.version ?? 0))
        guard let doc, let docID = doc["id"]?.idValue else {
            let created: JSON = try await payload.create(ProductFields.stub(medusaID: product.id, tenant: tenant, values: commerce),
                                                         in: collection)
            guard let docID = created["id"]?.idValue else {
                throw SyncError("Payload created a content document for \(product.id) without an id")
            }
            return Result(link: SyncLink(medusaID: product.id, payloadDocID: docID, medusaVersion: medusaVersion,
                                         payloadVersion: ProductFields.version(created), synced: commerce),
                          conflicts: [], writes: 1)
        }
        let plan = SyncPlan.decide(commerce: commerce, content: ProductFields.contentView(doc), synced: link?.synced)
        var next = SyncLink(medusaID: product.id, payloadDocID: docID, medusaVersion: medusaVersion,
                            payloadVersion: max(link?.payloadVersion ?? 0, ProductFields.version(doc)), synced: plan.agreed)
        var writes = 0
        if !plan.toContent.isEmpty {
            let updated: JSON = try await payload.update(
                id: docID, ProductFields.payloadPatch(plan.toContent, agreed: plan.agreed), in: collection)
            writes += 1
            // The version our write made is ours only if nobody else's change came with it.
            if ProductFields.contentView(updated) == plan.agreed {
                next.payloadVersion = max(next.payloadVersion, ProductFields.version(updated))
            }
        }
        if !plan.toCommerce.isEmpty {
            let updated: MedusaProduct
            do {
                updated = try await medusa.updateProduct(id: product.id, ProductFields.medusaUpdate(plan.toCommerce, current: product.metadata))
            } catch {
                // Payload was written: the conflicts commerce won there are settled, whatever happens next.
                guard writes > 0 else { throw error }
                throw PartialSync(medusaID: product.id, docID: docID,
                                  settled: plan.conflicts.filter { $0.winner == .commerce }, underlying: error)
            }
            writes += 1
            if ProductFields.commerceView(updated) == plan.agreed {
                next.medusaVersion = max(next.medusaVersion, Int64(updated.version ?? 0))
            }
        }
        return Result(link: next, conflicts: plan.conflicts, writes: writes)
    }

    /// Unpublishes the document and marks it `archived: true` (a draft write: no `content.published`).
    func archive(docID: String) async throws {
        let fields: [String: JSON] = ["archived": true, "_status": "draft"]
        _ = try await orNil { () async throws(ConnectorError) -> JSON in
            try await payload.update(id: docID, fields, in: collection)
        }
    }
}

/// The content document was written and the Medusa write then failed. The conflicts the first
/// write settled (commerce won: the editor's value was overwritten) have happened and must be
/// recorded although the attempt fails: the retry finds both sides agreeing on those fields and
/// would never see them again. The others are found again by the retry.
struct PartialSync: Error, CustomStringConvertible {
    let medusaID: String
    let docID: String
    let settled: [SyncConflict]
    let underlying: any Error
    var description: String { "\(underlying)" }

    var records: [(medusaID: String, docID: String?, conflict: SyncConflict)] {
        settled.map { (medusaID: medusaID, docID: docID, conflict: $0) }
    }
}

/// A failure of the sync that a retry may cure (the job is retried by its policy).
struct SyncError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
