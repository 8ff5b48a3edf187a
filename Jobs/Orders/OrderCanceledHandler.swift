import Connectors
import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// Medusa `order.canceled` (`data.id` names the order): reverses the order's commissions once
/// (`commission.reverse`, reason `cancellation`, under a job id derived from the order), marks its
/// fulfilment canceled (no delivery or invoice is created for it afterwards) and cancels its
/// Fleetbase delivery unless it was already completed or canceled. The ERPNext invoice is left to
/// accounting (a submitted invoice is cancelled with a credit note there). A cancellation that
/// arrives before its order.placed was handled fails the attempt and is retried.
struct OrderCanceledHandler: WebhookEventHandler {
    let database: Database?
    let fleetbase: FleetbaseConnector?

    /// Delivery states that cannot be cancelled any more.
    static let finalDeliveryStates: Set<String> = ["completed", "delivered", "canceled", "cancelled", "failed"]

    func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
        let kind = "webhook \(event.type)"
        let database = try JobDependency.required(database, "a database", for: kind)
        let fleetbase = try JobDependency.required(fleetbase, "the Fleetbase connector", for: kind)
        let tenant = try EventTenant.required(event, context)
        let medusaID = try event.requiredString("data", "id")
        let order = MedusaOrderMapping.orderID(medusaID)
        try await CommissionReverseJob(database: database).run(
            .init(orderID: order, reason: .cancellation),
            context: DerivedJob.context(id: "order.canceled:reversal:\(tenant.uuidString.lowercased()):\(medusaID)",
                                        kind: CommissionReverseJob.kind, queue: CommissionReverseJob.options.queue,
                                        tenant: tenant, from: context))
        let logger = context.logger
        let delivery = try await database.withTenant(tenant) { connection -> (String, String?)? in
            let rows = try await connection.query("""
                UPDATE order_fulfilments SET canceled_at = coalesce(canceled_at, now()), updated_at = now()
                WHERE order_id = \(order) RETURNING delivery_id, delivery_status
                """, logger: logger)
            for try await (id, status) in rows.decode((String?, String?).self) { return id.map { ($0, status) } }
            return nil
        }
        if let (deliveryID, status) = delivery, !Self.finalDeliveryStates.contains(status ?? "") {
            do { _ = try await fleetbase.cancelOrder(id: deliveryID) } catch {
                throw OutsideCall.failure(error, "cancelling Fleetbase delivery \(deliveryID) of order \(medusaID)")
            }
        }
        return .processed
    }
}
