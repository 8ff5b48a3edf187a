import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// Fleetbase `order.*` (`data` is the delivery order: `id`, `status`, `updated_at`): the order's
/// fulfilment status becomes the delivery's. Never backwards: the event applies only if the
/// delivery's `updated_at` (then its status's rank, for two changes in one millisecond) is newer
/// than the last applied, so `completed` followed late by `started` stays `completed` (the late
/// event is `ignored`).
struct DeliveryStatusHandler: WebhookEventHandler {
    let database: Database?

    /// The order of delivery states, for ties of `updated_at`.
    static let rank: [String: Int] = [
        "created": 0, "dispatched": 1, "driver_assigned": 1, "started": 2, "in_transit": 2, "enroute": 2,
        "failed": 3, "completed": 4, "delivered": 4, "canceled": 5, "cancelled": 5,
    ]

    func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
        let database = try JobDependency.required(database, "a database", for: "webhook \(event.type)")
        let deliveryID = try event.requiredString("data", "id")
        let status = try event.requiredString("data", "status")
        guard let stamp = EventClock.millis(event.string("data", "updated_at") ?? event.string("created_at")) else {
            throw JobFailure.permanent("fleetbase \(event.type) event \(event.eventID) has no data.updated_at or created_at timestamp")
        }
        let fulfilments = OrderFulfilments(database: database, logger: context.logger)
        let tenant: UUID
        if let named = context.tenant.flatMap({ UUID(uuidString: $0) }) {
            tenant = named
        } else if let owner = try await fulfilments.owner(of: .delivery, id: deliveryID, externalID: event.string("data", "internal_id")) {
            tenant = owner.tenant
        } else {
            return try Self.unknown(deliveryID, status: status)
        }
        let version = ObjectVersions.version(millis: stamp, rank: Self.rank[status] ?? 0)
        let logger = context.logger
        return try await database.withTenant(tenant) { connection in
            let rows = try await connection.query(
                "SELECT order_id FROM order_fulfilments WHERE delivery_id = \(deliveryID) FOR UPDATE", logger: logger)
            var found = false
            for try await _ in rows.decode(UUID.self) { found = true }
            guard found else { return try Self.unknown(deliveryID, status: status) }
            guard try await ObjectVersions.advance("fleetbase.order", deliveryID, to: version, tenant: tenant,
                                                   on: connection, logger: logger) else { return .ignored }
            try await connection.query("""
                UPDATE order_fulfilments SET delivery_status = \(status), updated_at = now() WHERE delivery_id = \(deliveryID)
                """, logger: logger)
            return .processed
        }
    }

    /// A delivery we hold no order for: its creation event may outrun the commit that stores its id
    /// (nothing lost: that commit records `created`), so `created` is ignored; a later status is
    /// retried until the id is stored, then dead-lettered (a delivery made outside the platform).
    static func unknown(_ deliveryID: String, status: String) throws -> WebhookOutcome {
        if status == "created" { return .ignored }
        throw UnknownDocument(description: "Fleetbase delivery \(deliveryID) belongs to no order we hold (yet); retrying")
    }
}

/// An outside document no record of ours names yet: retried, as its id may be about to commit.
struct UnknownDocument: Error, CustomStringConvertible {
    let description: String
}
