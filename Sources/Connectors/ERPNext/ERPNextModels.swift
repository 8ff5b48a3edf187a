import Foundation

/// One line of a Sales Invoice: an item, a quantity and the unit price.
public struct ERPNextInvoiceLine: Sendable, Equatable {
    public var itemCode: String
    public var quantity: Int
    public var unitPrice: Money
    public var description: String?

    public init(itemCode: String, quantity: Int, unitPrice: Money, description: String? = nil) {
        self.itemCode = itemCode
        self.quantity = quantity
        self.unitPrice = unitPrice
        self.description = description
    }
}

/// A document ERPNext created or returned (`{"data": {...}}`): its name and state.
public struct ERPNextDocument: Sendable, Decodable, Equatable {
    /// The document's name, its id (`ACC-SINV-2025-00001`).
    public let name: String
    public let doctype: String?
    /// 0 draft, 1 submitted, 2 cancelled.
    public let docstatus: Int?
    /// In major units, as ERPNext writes it (`grand_total`, `paid_amount`).
    public let grandTotal: Decimal?
    /// Paid at a point of sale (`paid_amount`); payments allocated by a Payment Entry lower
    /// `outstandingAmount` instead.
    public let paidAmount: Decimal?
    /// What is left to pay on an invoice (`outstanding_amount`).
    public let outstandingAmount: Decimal?
    /// The grand total rounded (`rounded_total`; 0 when rounding is off); what is outstanding
    /// starts from it.
    public let roundedTotal: Decimal?
    public let currency: String?
    public let modified: String?
    /// A Sales Invoice's state: `Draft`, `Unpaid`, `Partly Paid`, `Paid`, `Overdue`, `Cancelled`, …
    public let status: String?
    /// Free text; the platform writes its reference there (`CityOS order <id>`).
    public let remarks: String?

    enum CodingKeys: String, CodingKey {
        case name, doctype, docstatus, currency, modified, status, remarks, grandTotal = "grand_total", paidAmount = "paid_amount",
             outstandingAmount = "outstanding_amount", roundedTotal = "rounded_total"
    }
}

struct ERPNextEnvelope: Decodable { let data: ERPNextDocument }

/// The request bodies, with amounts in major units (ERPNext's currency fields are decimals).
struct SalesInvoiceBody: Encodable {
    struct Item: Encodable {
        let item_code: String
        let qty: Int
        let rate: Decimal
        let description: String?
    }
    let customer: String
    let company: String?
    let currency: String
    let posting_date: String?
    let due_date: String
    let set_posting_time: Int?
    let remarks: String?
    let items: [Item]
    let docstatus: Int
}

struct PaymentEntryBody: Encodable {
    struct Reference: Encodable {
        let reference_doctype: String
        let reference_name: String
        let allocated_amount: Decimal
    }
    let payment_type = "Receive"
    let party_type = "Customer"
    let party: String
    let company: String?
    let paid_amount: Decimal
    let received_amount: Decimal
    let paid_to: String
    let paid_from_account_currency: String
    let paid_to_account_currency: String
    let reference_no: String
    let reference_date: String
    let mode_of_payment: String?
    let references: [Reference]
    let docstatus: Int
}
