import Foundation

/// Validation and totals of the two doctypes the platform creates, with Frappe's 417
/// `ValidationError` (or `LinkValidationError`) for what ERPNext would refuse.
enum ERPNextDocuments {
    static func salesInvoice(_ fields: [String: SandboxJSON]) throws(ServiceFailure) -> [String: SandboxJSON] {
        guard let customer = fields["customer"]?.string, !customer.isEmpty else { throw invalid("Customer is mandatory") }
        guard fields["due_date"]?.string != nil else { throw invalid("Due Date is mandatory") }
        guard let items = fields["items"]?.array, !items.isEmpty else { throw invalid("Items are mandatory") }
        var total = Decimal(0)
        var lines: [SandboxJSON] = []
        for (index, item) in items.enumerated() {
            guard item["item_code"]?.string != nil, let qty = item["qty"]?.decimal, qty > 0,
                  let rate = item["rate"]?.decimal, rate >= 0 else {
                throw invalid("Row #\(index + 1): item_code, a positive qty and a rate are mandatory")
            }
            let amount = qty * rate
            total += amount
            var line = item
            line["amount"] = .decimal(amount)
            lines.append(line)
        }
        var doc = fields
        doc["items"] = .array(lines)
        doc["currency"] = .string(fields["currency"]?.string ?? "USD")
        doc["grand_total"] = .decimal(total)
        doc["outstanding_amount"] = .decimal(total)
        doc["status"] = fields["docstatus"]?.int == 1 ? "Unpaid" : "Draft"
        return doc
    }

    static func paymentEntry(_ fields: [String: SandboxJSON], world: SandboxWorld) throws(ServiceFailure) -> [String: SandboxJSON] {
        guard let party = fields["party"]?.string, !party.isEmpty else { throw invalid("Party is mandatory") }
        guard let paid = fields["paid_amount"]?.decimal, paid > 0 else { throw invalid("Paid Amount must be positive") }
        guard fields["paid_to"]?.string != nil else { throw invalid("Account Paid To is mandatory") }
        guard fields["reference_no"]?.string != nil, fields["reference_date"]?.string != nil else {
            throw invalid("Reference No and Reference Date are mandatory for Bank transaction")
        }
        let submitted = fields["docstatus"]?.int == 1
        for reference in fields["references"]?.array ?? [] {
            guard let name = reference["reference_name"]?.string,
                  let invoice = world.erpnext.documents["Sales Invoice/\(name)"] else {
                throw .shaped(.erpnext, status: 417, message: "Could not find Sales Invoice: \(reference["reference_name"]?.string ?? "?")",
                              type: "LinkValidationError")
            }
            guard invoice["customer"]?.string == party else {
                throw invalid("Sales Invoice \(name) is not for party \(party)")
            }
            let allocated = reference["allocated_amount"]?.decimal ?? 0
            let outstanding = invoice["outstanding_amount"]?.decimal ?? 0
            guard allocated <= outstanding else {
                throw invalid("Allocated Amount \(allocated) cannot be greater than outstanding amount \(outstanding)")
            }
            if submitted {
                _ = world.erpnext.documents.update("Sales Invoice/\(name)") { invoice in
                    let left = outstanding - allocated
                    invoice["outstanding_amount"] = .decimal(left)
                    invoice["status"] = left == 0 ? "Paid" : "Partly Paid"
                    invoice["modified"] = .string(SandboxIDs.frappeTimestamp())
                }
            }
        }
        return fields
    }

    private static func invalid(_ message: String) -> ServiceFailure {
        .shaped(.erpnext, status: 417, message: message, type: "ValidationError")
    }
}
