import Connectors
import Foundation
import Logging
import Queue
import Store

/// Medusa `order.placed` (`data.id` names the order): reads the order from Medusa, then, each once
/// per order however many events name it (the same event redelivered, or several events):
/// 1. the order, its lines and their commissions (`commission.calculate`, run under a job id
///    derived from the order, so the execution ledger lets it commit once);
/// 2. one ERPNext sales invoice, submitted;
/// 3. one Fleetbase delivery order, if the order has a drop-off address (then a pickup address
///    is required). Last, so that an address Fleetbase refuses, or a missing pickup address,
///    dead-letters the job with its reason after the commissions and the invoice are made.
/// Steps 2 and 3 lock the order's fulfilment row while they call out and store the outside id in
/// the same transaction, so concurrent events for one order create one document; and they look the
/// document up by our reference first (Fleetbase `internal_id`, the invoice's `remarks`), so a
/// retry after a crash between the outside create and our commit finds it instead of making another.
struct OrderPlacedHandler: WebhookEventHandler {
    let database: Database?
    let connectors: Connectors?

    /// The invoice's `remarks`: our reference, to find it again (and its order from its events).
    static let remarksPrefix = "CityOS order "

    /// Days until an order's invoice is due.
    static let invoiceDueDays = 14

    func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
        let kind = "webhook \(event.type)"
        let database = try JobDependency.required(database, "a database", for: kind)
        let connectors = try JobDependency.required(connectors, "the connectors", for: kind)
        let tenant = try EventTenant.required(event, context)
        let medusaID = try event.requiredString("data", "id")
        let order: MedusaOrder
        do { order = try await connectors.medusa.order(id: medusaID) } catch {
            throw OutsideCall.failure(error, "reading Medusa order \(medusaID)")
        }
        let placedAt = event.string("data", "placed_at") ?? event.string("data", "created_at")
            ?? ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(event.receivedAt) / 1000))
        let placed = try MedusaOrderMapping.placedOrder(order, placedAt: placedAt)
        // Read now, used last: an address Fleetbase cannot take (or none to take) fails the job
        // for good only after the commissions and the invoice, which do not depend on it.
        let delivery = Result { () throws(JobFailure) in try MedusaOrderMapping.delivery(order) }

        try await Self.requireVendors(of: placed, tenant: tenant, database: database, logger: context.logger)
        try await CommissionCalculateJob(database: database).run(
            .init(order: placed),
            context: DerivedJob.context(id: "order.placed:commissions:\(tenant.uuidString.lowercased()):\(medusaID)",
                                        kind: CommissionCalculateJob.kind, queue: CommissionCalculateJob.options.queue,
                                        tenant: tenant, from: context))
        let fulfilments = OrderFulfilments(database: database, logger: context.logger)
        try await fulfilments.ensure(tenant: tenant, order: placed.id, externalID: medusaID)
        // An order.canceled that came first left its cancellation for the booking to apply: the
        // order is booked canceled, and gets no delivery or invoice.
        try await fulfilments.cancelIfCanceled(tenant: tenant, order: placed.id)

        // The invoice before the delivery: a delivery Fleetbase refuses (an address it cannot
        // place) dead-letters the job with the reason, and must not leave a booked order without
        // its invoice; replayed once the address is right, the job finds the invoice and makes
        // the delivery.
        let remarks = Self.remarksPrefix + medusaID
        try await fulfilments.once(.invoice, tenant: tenant, order: placed.id, lookUp: {
            do { return try await connectors.erpnext.names(doctype: "Sales Invoice", whereEqual: [("remarks", remarks)]).first } catch {
                throw OutsideCall.failure(error, "looking up the ERPNext invoice of order \(medusaID)")
            }
        }) {
            let due = Calendar(identifier: .gregorian).date(byAdding: .day, value: Self.invoiceDueDays, to: Date()) ?? Date()
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd"
            do {
                return try await connectors.erpnext.createSalesInvoice(
                    customer: order.customerID ?? order.email ?? "Guest", currency: order.currency.uppercased(),
                    lines: MedusaOrderMapping.invoiceLines(order), dueDate: formatter.string(from: due),
                    remarks: remarks).name
            } catch {
                throw OutsideCall.failure(error, "creating the ERPNext invoice of order \(medusaID)")
            }
        }

        // Unless the order has no drop-off address; a bad address fails only where a delivery is
        // still to be made (not for an order canceled meanwhile, nor one whose delivery is stored).
        let needsDelivery = switch delivery { case .success(nil): false; default: true }
        if needsDelivery {
            do {
                try await makeDelivery(delivery, medusaID: medusaID, order: placed.id, tenant: tenant,
                                       fulfilments: fulfilments, fleetbase: connectors.fleetbase)
            } catch let refusal as DeliveryRefusal {
                // Refused for good (an address Fleetbase cannot place, none to pick up from): the
                // row says so beside the dead letter's reason, until a replay makes the delivery.
                do { try await fulfilments.markDeliveryRefused(tenant: tenant, order: placed.id) } catch {
                    context.logger.warning("could not mark the order's delivery refused", metadata: [
                        "order": "\(medusaID)", "error": "\(error)"])
                }
                throw refusal.failure
            }
        }
        return .processed
    }

    /// The order's one Fleetbase delivery (`OrderFulfilments.once`).
    private func makeDelivery(_ delivery: Result<(pickup: FleetbasePlace, dropoff: FleetbasePlace)?, JobFailure>,
                              medusaID: String, order: UUID, tenant: UUID, fulfilments: OrderFulfilments,
                              fleetbase: FleetbaseConnector) async throws {
        let tenantID = JSON.string(tenant.uuidString.lowercased())
        try await fulfilments.once(.delivery, tenant: tenant, order: order, lookUp: {
            // Only a delivery this tenant's attempt made: two tenants' stores may number
            // their orders alike, and a list that ignored the filter would answer others'.
            do {
                return try await fleetbase.orders(internalID: medusaID)
                    .first { $0.internalID == medusaID && $0.meta?["tenant_id"] == tenantID }?.id
            } catch {
                throw OutsideCall.failure(error, "looking up the Fleetbase delivery of order \(medusaID)")
            }
        }) {
            let places: (pickup: FleetbasePlace, dropoff: FleetbasePlace)?
            switch delivery {
            case .success(let found): places = found
            case .failure(let failure): throw DeliveryRefusal(failure: failure)
            }
            guard let places else { throw JobFailure.permanent("order \(medusaID) has no delivery address") }
            do {
                return try await fleetbase.createOrder(
                    pickup: places.pickup, dropoff: places.dropoff, internalID: medusaID,
                    meta: ["tenant_id": tenantID, "order_id": .string(medusaID)]).id
            } catch {
                let failure = OutsideCall.failure(error, "creating the Fleetbase delivery of order \(medusaID)")
                // Fleetbase refused this delivery (not credentials, nor an answer that may hide a
                // delivery it made: those are not the order's).
                if (error as? ConnectorError)?.refusesThisRequest == true, let failure = failure as? JobFailure {
                    throw DeliveryRefusal(failure: failure)
                }
                throw failure
            }
        }
    }

    /// Fails for good if a line names a vendor the tenant does not have (a retry cannot add it).
    static func requireVendors(of order: CommissionCalculateJob.PlacedOrder, tenant: UUID, database: Database,
                               logger: Logger) async throws {
        let wanted = Set(order.lines.map(\.vendorID))
        let found = try await database.withTenant(tenant) { connection -> Set<UUID> in
            let rows = try await connection.query("SELECT id FROM vendors WHERE id = ANY(\(Array(wanted)))", logger: logger)
            var found = Set<UUID>()
            for try await id in rows.decode(UUID.self) { found.insert(id) }
            return found
        }
        let missing = wanted.subtracting(found).map { $0.uuidString.lowercased() }.sorted()
        guard missing.isEmpty else {
            throw JobFailure.permanent("order \(order.externalID ?? "?"): tenant \(tenant) has no vendor \(missing.joined(separator: ", "))")
        }
    }
}

/// The order's delivery cannot be made as it stands (its address, or Fleetbase's refusal of it):
/// `failure` is what the job fails with; the fulfilment row is marked `refused` first.
struct DeliveryRefusal: Error {
    let failure: JobFailure
}
