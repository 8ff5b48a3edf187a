import Synchronization

/// What the Payload sandbox keeps: documents by collection, with numeric ids (as on PostgreSQL).
final class PayloadState: Sendable {
    private struct State {
        var collections: [String: RecordStore] = [:]
        var lastID = 0
    }

    private let state = Mutex(State())

    func collection(_ slug: String) -> RecordStore {
        state.withLock { state in
            if let store = state.collections[slug] { return store }
            let store = RecordStore()
            state.collections[slug] = store
            return store
        }
    }

    func nextID() -> Int {
        state.withLock { state in
            state.lastID += 1
            return state.lastID
        }
    }

    func reset() { state.withLock { $0 = State() } }

    /// What the platform's collection hooks post after a change (the platform envelope,
    /// `{id, type, data: {id, collection, version}, tenant_id?}`, tenant from the document's
    /// `tenant_id`): `content.published` when a `products-content` document is published
    /// (`_status: "published"`) after the change, `media.uploaded` for a new `media` document.
    static func changed(_ collection: String, _ doc: SandboxJSON, created: Bool, world: SandboxWorld) {
        let type: String
        if collection == "products-content", doc["_status"]?.string == "published" {
            type = "content.published"
        } else if collection == "media", created {
            type = "media.uploaded"
        } else {
            return
        }
        var event: SandboxJSON = ["id": .string("evt_" + SandboxIDs.uuid()), "type": .string(type),
                                  "data": ["id": doc["id"] ?? .null, "collection": .string(collection),
                                           "version": doc["version"] ?? .null]]
        if let tenant = doc["tenant_id"]?.string { event["tenant_id"] = .string(tenant) }
        world.webhooks.send(.payload, eventID: event["id"]?.string ?? "", type: type, body: event)
    }
}
