/// Fleetbase (`Authorization: Bearer flb_…`): create a delivery order, read its status.
public struct FleetbaseConnector: Sendable {
    public let client: ServiceClient

    public init(client: ServiceClient) { self.client = client }

    /// Fleetbase's errors: `{"errors": ["…"]}` (Laravel's `{"message": "…"}` for some).
    static let errors = ServiceErrorReader(details: { response in
        let body = ServiceErrorReader.object(response)
        if case .array(let errors)? = body?["errors"], let first = errors.first?.stringValue { return (first, nil) }
        return (body?["message"]?.stringValue ?? body?["error"]?.stringValue, nil)
    })

    struct NewOrder: Encodable {
        let pickup: FleetbasePlace
        let dropoff: FleetbasePlace
        let type: String?
        let internal_id: String?
        let meta: [String: JSON]
    }

    /// `POST /v1/orders` with an inline pickup and drop-off. `internalID` is the platform's own
    /// reference (e.g. the Medusa order id): not idempotent, so after a timeout look the order up
    /// before creating it again.
    public func createOrder(pickup: FleetbasePlace, dropoff: FleetbasePlace, internalID: String? = nil,
                            type: String? = nil, meta: [String: JSON] = [:]) async throws(ConnectorError) -> FleetbaseOrder {
        let body = try JSONBody.encode(NewOrder(pickup: pickup, dropoff: dropoff, type: type, internal_id: internalID,
                                                meta: meta), service: .fleetbase)
        return try await client.send(ServiceRequest(.post, "/v1/orders", body: .json(body)), decoding: FleetbaseOrder.self)
    }

    /// `GET /v1/orders?internal_id=…`: the orders carrying the platform's reference (to find an
    /// order a timed-out or crashed create may have made before creating it again). Fleetbase's
    /// list filters by query parameter; this one is played by the sandbox and not confirmed against
    /// Fleetbase's source.
    public func orders(internalID: String) async throws(ConnectorError) -> [FleetbaseOrder] {
        try await client.send(ServiceRequest(.get, "/v1/orders", query: [("internal_id", internalID)]),
                              decoding: [FleetbaseOrder].self)
    }

    /// `DELETE /v1/orders/{id}/cancel`: cancels a delivery order (Fleetbase answers the order,
    /// `canceled`). Cancelling twice is harmless.
    public func cancelOrder(id: String) async throws(ConnectorError) -> FleetbaseOrder {
        try await client.send(
            ServiceRequest(.delete, "/v1/orders/\(ServiceRequest.segment(id))/cancel", endpoint: "DELETE /v1/orders/{id}/cancel"),
            decoding: FleetbaseOrder.self)
    }

    /// `GET /v1/orders/{id}`.
    public func order(id: String) async throws(ConnectorError) -> FleetbaseOrder {
        try await client.send(
            ServiceRequest(.get, "/v1/orders/\(ServiceRequest.segment(id))", endpoint: "GET /v1/orders/{id}"),
            decoding: FleetbaseOrder.self)
    }
}
