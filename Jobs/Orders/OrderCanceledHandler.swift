import Connectors
import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// Medusa `order.canceled` (`data.id` names the order): reverses the order's commissions once
/// (`commission.reverse`, reason `cancellation`, under a job id derived from the order), marks its
/// fulfilment canceled (no delivery or invoice is created for it afterwards), cancels its Fleetbase
/// delivery unless it was already completed or canceled (a refusal is logged and left to dispatch),
/// and cancels its ERPNext invoice unless
/// something was paid on it (a paid invoice is left to accounting: a credit note). A cancellation
/// that arrives before its order.placed was handled is kept: order.placed books the order
/// canceled, its commissions reversed, and creates no delivery or invoice for it.
struct OrderCanceledHandler: WebhookEventHandler {
    let database: Database?
    let fleetbase: FleetbaseConnector?
    let erpnext: ERPNextConnector?

    /// Invoices nothing was paid on yet: cancelled in ERPNext with the order.
    static let cancellableInvoiceStates: Set<String> = ["invoiced", "overdue"]
    /// ERPNext states of a Sales Invoice with money on it: cancelling is for accounting then. (An
    /// overdue invoice reads `Overdue` even when partly paid: its amounts tell, see `hasPayments`.)
    static let paidInvoiceStates: Set<String> = ["Paid", "Partly Paid", "Credit Note Issued", "Return",
                                                  "Partly Paid and Discounted", "Unpaid and Discounted",
                                                  "Overdue and Discounted"]

    /// Whether money was paid or allocated on the invoice, or documents are linked to it.
    static func hasPayments(_ invoice: ERPNextDocument) -> Bool {
        if paidInvoiceStates.contains(invoice.status ?? "") || (invoice.paidAmount ?? 0) > 0 { return true }
        // Against the rounded total when rounding is on: ERPNext sets the outstanding amount to it.
        let total = (invoice.roundedTotal ?? 0) > 0 ? invoice.roundedTotal : invoice.grandTotal
        if let outstanding = invoice.outstandingAmount, let total, outstanding < total { return true }
        return false
    }

    /// Delivery states that cannot be cancelled any more.
    static let finalDeliveryStates: Set<String> = ["completed", "delivered", "canceled", "cancelled", "failed"]

    func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
        let kind = "webhook \(event.type)"
        let database = try JobDependency.required(database, "a database", for: kind)
        let fleetbase = try JobDependency.required(fleetbase, "the Fleetbase connector", for: kind)
        let erpnext = try JobDependency.required(self.erpnext, "the ERPNext connector", for: kind)
        let tenant = try EventTenant.required(event, context)
        let medusaID = try event.requiredString("data", "id")
        let order = MedusaOrderMapping.orderID(medusaID)
        try await CommissionReverseJob(database: database).run(
            .init(orderID: order, reason: .cancellation),
            context: DerivedJob.context(id: "order.canceled:reversal:\(tenant.uuidString.lowercased()):\(medusaID)",
                                        kind: CommissionReverseJob.kind, queue: CommissionReverseJob.options.queue,
                                        tenant: tenant, from: context))
        let logger = context.logger
        let state = try await database.withTenant(tenant) { connection -> (String?, String?, String?, String)? in
            let rows = try await connection.query("""
                UPDATE order_fulfilments SET canceled_at = coalesce(canceled_at, now()), updated_at = now(),
                    delivery_status = CASE WHEN delivery_id IS NULL AND delivery_status = 'refused' THEN NULL
                                           ELSE delivery_status END
                WHERE order_id = \(order) RETURNING delivery_id, delivery_status, invoice_name, accounting_status
                """, logger: logger)
            for try await row in rows.decode((String?, String?, String?, String).self) { return row }
            return nil
        }
        guard let (deliveryID, deliveryStatus, invoiceName, accountingStatus) = state else { return .processed }
        if let deliveryID, !Self.finalDeliveryStates.contains(deliveryStatus ?? "") {
            do { _ = try await fleetbase.cancelOrder(id: deliveryID) } catch {
                // Refused for this delivery (our status lagged Fleetbase's, or the delivery is gone
                // there): the invoice must still be cancelled, or the customer is billed for a
                // canceled order. Anything else (credentials, an outage) fails the event as before.
                guard error.refusesThisRequest else {
                    throw OutsideCall.failure(error, "cancelling Fleetbase delivery \(deliveryID) of order \(medusaID)")
                }
                logger.warning("Fleetbase refused to cancel the delivery of a canceled order; left to dispatch",
                               metadata: ["delivery": "\(deliveryID)", "order": "\(medusaID)", "error": "\(error)"])
            }
        }
        if let invoiceName, Self.cancellableInvoiceStates.contains(accountingStatus) {
            try await Self.cancelInvoice(invoiceName, erpnext: erpnext, tenant: tenant, database: database, logger: logger)
        }
        return .processed
    }

    /// Cancels the unpaid invoice in ERPNext and records it (as a version of the invoice, so a late
    /// `Unpaid` event cannot undo it). ERPNext refusing because a payment was allocated meanwhile
    /// (or the invoice is no longer submitted) leaves the invoice to accounting (a credit note),
    /// logged; an invoice found cancelled already is recorded so; other refusals (Frappe answers
    /// 417 to any validation error, e.g. the invoice edited at the same moment) and failures are
    /// retried.
    private static func cancelInvoice(_ name: String, erpnext: ERPNextConnector, tenant: UUID, database: Database,
                                      logger: Logger) async throws {
        let cancelled: ERPNextDocument
        do { cancelled = try await erpnext.cancel(doctype: "Sales Invoice", name: name) } catch {
            guard !error.isRetryable, case .rejected(_, _, let code, _) = error else {
                throw OutsideCall.failure(error, "cancelling ERPNext invoice \(name)")
            }
            if code == "LinkExistsError" {
                // A Payment Entry (or another document) is linked to it: for accounting.
                logger.notice("ERPNext kept the invoice of a canceled order; left to accounting",
                              metadata: ["invoice": "\(name)", "error": "\(error)"])
                return
            }
            let current: ERPNextDocument
            do { current = try await erpnext.document(doctype: "Sales Invoice", name: name) } catch {
                throw OutsideCall.failure(error, "reading ERPNext invoice \(name) after it refused its cancellation")
            }
            switch current.docstatus {
            case 2?:
                cancelled = current   // cancelled meanwhile (by someone, or by an earlier attempt)
            case 1? where !Self.hasPayments(current):
                throw InvoiceCancellationRefused(invoice: name, status: current.status, reason: "\(error)")
            default:
                logger.notice("ERPNext kept the invoice of a canceled order; left to accounting",
                              metadata: ["invoice": "\(name)", "status": "\(current.status ?? "?")", "error": "\(error)"])
                return
            }
        }
        let stamp = EventClock.millis(cancelled.modified) ?? Int64(Date().timeIntervalSince1970 * 1000)
        let version = ObjectVersions.version(millis: stamp, rank: InvoiceStatusHandler.statuses["Cancelled"]?.rank ?? 4)
        try await database.withTenant(tenant) { connection in
            guard try await ObjectVersions.advance("erpnext.sales_invoice", name, to: version, tenant: tenant,
                                                   on: connection, logger: logger) else { return }
            try await connection.query("""
                UPDATE order_fulfilments SET accounting_status = 'cancelled', updated_at = now() WHERE invoice_name = \(name)
                """, logger: logger)
        }
    }
}

/// ERPNext refused to cancel an invoice that nothing was paid on (a refusal other than a payment
/// allocated to it): retried.
struct InvoiceCancellationRefused: Error, CustomStringConvertible {
    let invoice: String
    let status: String?
    let reason: String
    var description: String {
        "ERPNext refused to cancel invoice \(invoice) (\(status ?? "no status"), nothing paid on it): \(reason); retrying"
    }
}
