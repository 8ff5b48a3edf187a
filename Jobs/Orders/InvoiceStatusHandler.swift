import Connectors
import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// ERPNext invoice events: the order's accounting status follows its sales invoice (`invoiced`,
/// `partly_paid`, `paid`, `overdue`, `cancelled`).
/// - `Sales Invoice.on_submit` / `on_update_after_submit` / `on_change`: the invoice is the event's
///   document (`name`, `data.status`, `modified`);
/// - `Payment Entry.on_submit`: each Sales Invoice the payment references is read from ERPNext,
///   which holds its status after the payment.
/// Never backwards: an invoice's status applies only if its `modified` (then the status's rank) is
/// newer than the last applied.
struct InvoiceStatusHandler: WebhookEventHandler {
    let database: Database?
    let erpnext: ERPNextConnector?

    static let types = ["Sales Invoice.on_submit", "Sales Invoice.on_update_after_submit", "Sales Invoice.on_change",
                        "Payment Entry.on_submit"]

    /// ERPNext's invoice status → ours, and its rank for ties.
    static let statuses: [String: (status: String, rank: Int)] = [
        "Unpaid": ("invoiced", 0), "Overdue": ("overdue", 1), "Partly Paid": ("partly_paid", 2),
        "Paid": ("paid", 3), "Cancelled": ("cancelled", 4),
    ]

    func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
        let database = try JobDependency.required(database, "a database", for: "webhook \(event.type)")
        if event.type.hasPrefix("Payment Entry.") {
            let erpnext = try JobDependency.required(erpnext, "the ERPNext connector", for: "webhook \(event.type)")
            guard case .array(let references)? = event.value(["data", "references"]) else {
                throw JobFailure.permanent("erpnext \(event.type) event \(event.eventID) has no data.references")
            }
            var outcome = WebhookOutcome.ignored
            for reference in references where reference["reference_doctype"]?.stringValue == "Sales Invoice" {
                guard let name = reference["reference_name"]?.stringValue else { continue }
                let invoice: ERPNextDocument
                do { invoice = try await erpnext.document(doctype: "Sales Invoice", name: name) } catch {
                    throw OutsideCall.failure(error, "reading ERPNext Sales Invoice \(name)")
                }
                if try await apply(invoice: name, status: invoice.status, modified: invoice.modified, remarks: invoice.remarks,
                                   database: database, event: event, context: context) == .processed {
                    outcome = .processed
                }
            }
            return outcome
        }
        let name = try event.string("name") ?? event.requiredString("data", "name")
        return try await apply(invoice: name, status: event.string("data", "status"),
                               modified: event.string("modified") ?? event.string("data", "modified"),
                               remarks: event.string("data", "remarks"), database: database, event: event, context: context)
    }

    private func apply(invoice name: String, status: String?, modified: String?, remarks: String?, database: Database,
                       event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
        guard let status, let mapped = Self.statuses[status] else { return .ignored }   // drafts and the like
        guard let stamp = EventClock.millis(modified) else {
            throw JobFailure.permanent("erpnext \(event.type) event \(event.eventID): Sales Invoice \(name) has no modified timestamp")
        }
        let fulfilments = OrderFulfilments(database: database, logger: context.logger)
        let tenant: UUID
        if let named = context.tenant.flatMap({ UUID(uuidString: $0) }) {
            tenant = named
        } else if let owner = try await fulfilments.owner(of: .invoice, id: name, externalID: Self.order(fromRemarks: remarks)) {
            tenant = owner.tenant
        } else {
            return try Self.unknown(name, status: mapped.status)
        }
        let version = ObjectVersions.version(millis: stamp, rank: mapped.rank)
        let logger = context.logger
        return try await database.withTenant(tenant) { connection in
            let rows = try await connection.query(
                "SELECT order_id FROM order_fulfilments WHERE invoice_name = \(name) FOR UPDATE", logger: logger)
            var found = false
            for try await _ in rows.decode(UUID.self) { found = true }
            guard found else { return try Self.unknown(name, status: mapped.status) }
            guard try await ObjectVersions.advance("erpnext.sales_invoice", name, to: version, tenant: tenant,
                                                   on: connection, logger: logger) else { return .ignored }
            try await connection.query("""
                UPDATE order_fulfilments SET accounting_status = \(mapped.status), updated_at = now() WHERE invoice_name = \(name)
                """, logger: logger)
            return .processed
        }
    }

    /// The Medusa order an invoice's remarks name (`CityOS order <id>`, as order.placed writes them).
    static func order(fromRemarks remarks: String?) -> String? {
        guard let remarks, remarks.hasPrefix(OrderPlacedHandler.remarksPrefix) else { return nil }
        return String(remarks.dropFirst(OrderPlacedHandler.remarksPrefix.count))
    }

    /// An invoice we hold no order for: its submission may outrun the commit that stores its name
    /// (which records `invoiced` itself), so that is ignored; a later status is retried.
    static func unknown(_ name: String, status: String) throws -> WebhookOutcome {
        if status == "invoiced" { return .ignored }
        throw UnknownDocument(description: "ERPNext Sales Invoice \(name) belongs to no order we hold (yet); retrying")
    }
}
