import Foundation
/// ERPNext / Frappe REST (`Authorization: token key:secret`): Sales Invoices and Payment Entries.
/// Money goes in as integer minor units and is written as exact decimals in major units.
public struct ERPNextConnector: Sendable {
    public let client: ServiceClient

    public init(client: ServiceClient) { self.client = client }

    /// Frappe's errors: `{"exc_type": "ValidationError", "exception": "…", "_server_messages": "…"}`
    /// (417 for validation, 409 for a duplicate, 403 for permissions).
    static let errors = ServiceErrorReader(
        details: { response in
            let body = ServiceErrorReader.object(response)
            return (body?["exception"]?.stringValue ?? body?["message"]?.stringValue, body?["exc_type"]?.stringValue)
        },
        special: { response, service in
            let body = ServiceErrorReader.object(response)
            // A duplicate name is a permanent refusal, not Stripe's "request in progress" 409.
            guard response.status == 409 || body?["exc_type"]?.stringValue == "DuplicateEntryError" else { return nil }
            return .rejected(service: service, status: response.status, code: "DuplicateEntryError",
                             message: body?["exception"]?.stringValue ?? "duplicate entry")
        })

    /// `POST /api/resource/Sales Invoice`. Every line must be in `currency`. `submit` creates it
    /// submitted (`docstatus` 1) rather than as a draft. Not idempotent: after a timeout, look the
    /// invoice up (e.g. by `remarks` holding the platform's reference) before creating it again.
    public func createSalesInvoice(customer: String, currency: String, lines: [ERPNextInvoiceLine], dueDate: String,
                                   postingDate: String? = nil, company: String? = nil, remarks: String? = nil,
                                   submit: Bool = true) async throws(ConnectorError) -> ERPNextDocument {
        guard !lines.isEmpty else { throw .invalidRequest(service: .erpnext, message: "an invoice needs at least one line") }
        if let other = lines.first(where: { $0.unitPrice.currency != currency.lowercased() }) {
            throw .invalidRequest(service: .erpnext,
                                  message: "line \(other.itemCode) is in \(other.unitPrice.currency), the invoice in \(currency)")
        }
        let body = SalesInvoiceBody(
            customer: customer, company: company, currency: currency.uppercased(), posting_date: postingDate,
            due_date: dueDate, set_posting_time: postingDate == nil ? nil : 1, remarks: remarks,
            items: lines.map { .init(item_code: $0.itemCode, qty: $0.quantity, rate: $0.unitPrice.majorUnits,
                                     description: $0.description) },
            docstatus: submit ? 1 : 0)
        return try await create(doctype: "Sales Invoice", body: body)
    }

    /// `POST /api/resource/Payment Entry`: money received from `customer` into the `paidTo` account,
    /// allocated to `invoice` when given.
    public func createPaymentEntry(customer: String, amount: Money, paidTo: String, referenceNumber: String,
                                   referenceDate: String, invoice: String? = nil, company: String? = nil,
                                   modeOfPayment: String? = nil, submit: Bool = true) async throws(ConnectorError) -> ERPNextDocument {
        guard amount.minorUnits > 0 else {
            throw .invalidRequest(service: .erpnext, message: "a payment amount must be positive (got \(amount))")
        }
        let currency = amount.currency.uppercased()
        let body = PaymentEntryBody(
            party: customer, company: company, paid_amount: amount.majorUnits, received_amount: amount.majorUnits,
            paid_to: paidTo, paid_from_account_currency: currency, paid_to_account_currency: currency,
            reference_no: referenceNumber, reference_date: referenceDate, mode_of_payment: modeOfPayment,
            references: invoice.map { [.init(reference_doctype: "Sales Invoice", reference_name: $0,
                                             allocated_amount: amount.majorUnits)] } ?? [],
            docstatus: submit ? 1 : 0)
        return try await create(doctype: "Payment Entry", body: body)
    }

    /// `GET /api/resource/{doctype}?filters=[[field,"=",value],…]&fields=["name"]`: the names of the
    /// documents whose fields equal the values (Frappe's list API), e.g. an invoice by the
    /// platform's reference in `remarks`, to find one a timed-out or crashed create may have made.
    public func names(doctype: String, whereEqual filters: [(field: String, value: String)]) async throws(ConnectorError) -> [String] {
        let filterJSON = "[" + filters.map { "[\(Self.quoted($0.field)),\"=\",\(Self.quoted($0.value))]" }.joined(separator: ",") + "]"
        let list = try await client.send(
            ServiceRequest(.get, "/api/resource/\(ServiceRequest.segment(doctype))", endpoint: "GET /api/resource/\(doctype)",
                           query: [("filters", filterJSON), ("fields", "[\"name\"]"), ("limit_page_length", "100")]),
            decoding: ERPNextList.self)
        return list.data.map(\.name)
    }

    /// A JSON string literal of `text`.
    private static func quoted(_ text: String) -> String {
        let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    struct ERPNextList: Decodable {
        struct Entry: Decodable { let name: String }
        let data: [Entry]
    }

    /// `POST /api/method/frappe.client.cancel {doctype, name}`: cancels a submitted document
    /// (docstatus 2); answers the document (`{"message": …}`). ERPNext refuses (417) an invoice
    /// a payment is allocated to. It also refuses (417, "Cannot edit cancelled document") a
    /// document already cancelled — by this very call, when its answer was lost and it was sent
    /// again, or by an earlier attempt: then the document is read, and if it is cancelled, that
    /// is the answer, as for a first cancel.
    public func cancel(doctype: String, name: String) async throws(ConnectorError) -> ERPNextDocument {
        let body = try JSONBody.encode(["doctype": doctype, "name": name], service: .erpnext)
        do {
            return try await client.send(
                ServiceRequest(.post, "/api/method/frappe.client.cancel", body: .json(body), idempotent: true),
                decoding: ERPNextMethodAnswer.self).message
        } catch {
            guard case .rejected = error, let current = try? await document(doctype: doctype, name: name),
                  current.docstatus == 2 else { throw error }
            return current
        }
    }

    struct ERPNextMethodAnswer: Decodable { let message: ERPNextDocument }

    /// `GET /api/resource/{doctype}/{name}`.
    public func document(doctype: String, name: String) async throws(ConnectorError) -> ERPNextDocument {
        try await client.send(
            ServiceRequest(.get, "/api/resource/\(ServiceRequest.segment(doctype))/\(ServiceRequest.segment(name))",
                           endpoint: "GET /api/resource/\(doctype)/{name}"),
            decoding: ERPNextEnvelope.self).data
    }

    private func create(doctype: String, body: some Encodable) async throws(ConnectorError) -> ERPNextDocument {
        let data = try JSONBody.encode(body, service: .erpnext)
        return try await client.send(
            ServiceRequest(.post, "/api/resource/\(ServiceRequest.segment(doctype))",
                           endpoint: "POST /api/resource/\(doctype)", body: .json(data)),
            decoding: ERPNextEnvelope.self).data
    }
}
