import Hummingbird

/// Fleetbase's orders under `/fleetbase`: create (inline pickup and drop-off, a `payload` with
/// them, or two or more `waypoints`), read, and the status actions `dispatch`, `start`,
/// `complete`, `cancel`. Every change of status is sent as a webhook (`order.created`,
/// `order.dispatched`, `order.updated`, `order.completed`, `order.failed`).
struct FleetbaseRoutes {
    let routes: ServiceRoutes

    func register() {
        let world = routes.world
        routes.on(.post, "/v1/orders") { request, _ throws(ServiceFailure) in
            let body = try await Answer.jsonObject(request, .fleetbase)
            let payload = body["payload"]?.object ?? body
            let stops = payload["waypoints"]?.array ?? []
            guard (payload["pickup"] != nil && payload["dropoff"] != nil) || stops.count >= 2 else {
                throw .shaped(.fleetbase, status: 400, message: "An order needs a pickup and a dropoff, or at least two waypoints.")
            }
            let id = SandboxIDs.fleetbase("order")
            let now = SandboxJSON.string(SandboxIDs.iso8601())
            let order: SandboxJSON = [
                "id": .string(id), "public_id": .string(id), "internal_id": body["internal_id"] ?? .null,
                "type": body["type"] ?? "default", "status": "created", "meta": body["meta"] ?? [:],
                "payload": ["pickup": payload["pickup"] ?? .null, "dropoff": payload["dropoff"] ?? .null,
                            "waypoints": .array(stops)],
                "created_at": now, "updated_at": now]
            world.fleetbase.orders.put(id, order)
            FleetbaseRoutes.send("order.created", order, world: world)
            return Answer.json(order)
        }
        routes.on(.get, "/v1/orders") { request, _ throws(ServiceFailure) in
            let internalID = Answer.query(request)["internal_id"]
            return Answer.json(.array(world.fleetbase.orders.all.filter {
                internalID == nil || $0["internal_id"]?.string == internalID
            }))
        }
        routes.on(.get, "/v1/orders/{id}") { _, context throws(ServiceFailure) in
            let id = Answer.parameter(context, "id")
            guard let order = world.fleetbase.orders[id] else { throw Self.missing(id) }
            return Answer.json(order)
        }
        action(.post, "/v1/orders/{id}/dispatch", status: "dispatched", event: "order.dispatched")
        action(.post, "/v1/orders/{id}/start", status: "started", event: "order.updated")
        action(.post, "/v1/orders/{id}/complete", status: "completed", event: "order.completed")
        action(.delete, "/v1/orders/{id}/cancel", status: "canceled", event: "order.updated")
    }

    private func action(_ method: HTTPRequest.Method, _ path: String, status: String, event: String) {
        let world = routes.world
        routes.on(method, path) { _, context throws(ServiceFailure) in
            let id = Answer.parameter(context, "id")
            guard let order = Self.setStatus(id, status, event: event, world: world) else { throw Self.missing(id) }
            return Answer.json(order)
        }
    }

    /// Sets an order's status and sends the event; `nil` when there is no such order.
    static func setStatus(_ id: String, _ status: String, event: String, world: SandboxWorld) -> SandboxJSON? {
        let order = world.fleetbase.orders.update(id) { order in
            order["status"] = .string(status)
            order["updated_at"] = .string(SandboxIDs.iso8601())
        }
        if let order { send(event, order, world: world) }
        return order
    }

    /// Fleetbase's envelope: `{id: "event_…", api_version, event, created_at, data}`.
    static func send(_ type: String, _ order: SandboxJSON, world: SandboxWorld) {
        var event: SandboxJSON = ["id": .string("event_" + SandboxIDs.uuid().replacingOccurrences(of: "-", with: "")),
                                  "api_version": "v1", "event": .string(type),
                                  "created_at": .string(SandboxIDs.iso8601()), "data": order]
        if let tenant = order["meta"]?["tenant_id"]?.string { event["tenant_id"] = .string(tenant) }
        world.webhooks.send(.fleetbase, eventID: event["id"]?.string ?? "", type: type, body: event)
    }

    static func missing(_ id: String) -> ServiceFailure { .notFound(.fleetbase, "Order \(id) not found.") }
}

/// What the Fleetbase sandbox keeps: delivery orders.
final class FleetbaseState: Sendable {
    let orders = RecordStore()
    func reset() { orders.reset() }
}
