import Connectors
import Foundation
import Queue
import Store

/// The sync's webhook events: Medusa's `product.created`, `product.updated`, `product.deleted`
/// and Payload's `content.published`, `media.uploaded` (registered in `WebhookDispatch.platform`).
/// The event names the entity (`data.id`) and, from the platform's subscribers and hooks, its
/// `data.version`; the handler reads the entity itself, so a late or repeated event can only
/// find the work done.
struct ProductSyncHandler: WebhookEventHandler {
    static let medusaTypes = ["product.created", "product.updated", "product.deleted"]
    static let payloadTypes = ["content.published", "media.uploaded"]

    let database: Database?
    let connectors: Connectors?

    func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
        let kind = "\(context.kind) \(event.type)"
        let sync = ProductSync(database: try JobDependency.required(database, "a database", for: kind),
                               medusa: try JobDependency.required(connectors?.medusa, "the Medusa connector", for: kind),
                               payload: try JobDependency.required(connectors?.payload, "the Payload connector", for: kind),
                               logger: context.logger)
        let tenant = try JobTenant.required(context)
        let data = event.payload["data"]
        guard let id = data?["id"]?.stringValue ?? data?["id"]?.intValue.map(String.init), !id.isEmpty else {
            throw JobFailure.permanent("\(event.source) \(event.type) event \(event.eventID) has no data.id")
        }
        let version = data?["version"]?.intValue.map(Int64.init)
        switch (event.source, event.type) {
        case ("medusa", "product.created"), ("medusa", "product.updated"):
            return try await sync.commerceChanged(tenant: tenant, productID: id, eventVersion: version, jobID: context.jobID)
        case ("medusa", "product.deleted"):
            return try await sync.commerceDeleted(tenant: tenant, productID: id, jobID: context.jobID)
        case ("payload", "content.published"):
            if let collection = data?["collection"]?.stringValue, collection != PayloadCollection.productsContent {
                return .ignored
            }
            return try await sync.contentChanged(tenant: tenant, docID: id, eventVersion: version, jobID: context.jobID)
        case ("payload", "media.uploaded"):
            return try await sync.mediaUploaded(tenant: tenant, mediaID: id, jobID: context.jobID)
        default:
            return .ignored
        }
    }
}
