import Synchronization

/// What the Medusa sandbox keeps: products (with variants and prices) and orders.
final class MedusaState: Sendable {
    let products = RecordStore()
    let orders = RecordStore()
    /// Whether product lists honour the platform's `tenant_id` filter (a Medusa without the
    /// platform's plugin ignores it and lists every tenant's products).
    let filtersByTenant = Atomic<Bool>(true)
    /// Whether a product update merges the `metadata` it sends into the product's (a key set to
    /// "" removed), or replaces the product's `metadata` with it.
    let mergesMetadata = Atomic<Bool>(true)

    func reset() {
        products.reset()
        orders.reset()
        filtersByTenant.store(true, ordering: .relaxed)
        mergesMetadata.store(true, ordering: .relaxed)
    }

    /// The platform envelope a Medusa subscriber posts: `{id, type, data: {id, version?,
    /// updated_at?}, tenant_id?}` (the platform's subscriber adds the entity's version, so a
    /// receiver can tell an old event from a new one).
    static func event(type: String, entity: SandboxJSON) -> SandboxJSON {
        var data: SandboxJSON = ["id": entity["id"] ?? .null]
        if let version = entity["version"] { data["version"] = version }
        if let updated = entity["updated_at"] { data["updated_at"] = updated }
        var event: SandboxJSON = ["id": .string("evt_" + SandboxIDs.uuid()), "type": .string(type), "data": data]
        if let tenant = entity["metadata"]?["tenant_id"]?.string { event["tenant_id"] = .string(tenant) }
        return event
    }

    static func send(_ type: String, _ entity: SandboxJSON, world: SandboxWorld) {
        let event = event(type: type, entity: entity)
        world.webhooks.send(.medusa, eventID: event["id"]?.string ?? "", type: type, body: event)
    }
}
