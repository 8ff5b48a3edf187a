import Foundation
import Hummingbird
import Synchronization

/// ERPNext / Frappe's resource API under `/erpnext`: create a Sales Invoice or a Payment Entry
/// (`POST /api/resource/{doctype}`, answered as `{"data": …}`) and read any document. A document
/// created submitted (`docstatus: 1`) is sent as an `on_submit` webhook, in the JSON template
/// docs/webhooks.md asks Frappe's Webhook to use.
struct ERPNextRoutes {
    let routes: ServiceRoutes

    func register() {
        let world = routes.world
        routes.on(.post, "/api/resource/{doctype}") { request, context throws(ServiceFailure) in
            let doctype = Answer.parameter(context, "doctype")
            let body = try await Answer.jsonObject(request, .erpnext)
            let fields = body["data"]?.object ?? body
            var doc: [String: SandboxJSON]
            switch doctype {
            case "Sales Invoice": doc = try ERPNextDocuments.salesInvoice(fields)
            case "Payment Entry": doc = try ERPNextDocuments.paymentEntry(fields, world: world)
            default: throw .shaped(.erpnext, status: 404, message: "DocType \(doctype) not found", type: "DoesNotExistError")
            }
            let name = world.erpnext.nextName(doctype)
            let now = SandboxJSON.string(SandboxIDs.frappeTimestamp())
            doc["name"] = .string(name)
            doc["doctype"] = .string(doctype)
            doc["docstatus"] = .int(fields["docstatus"]?.int == 1 ? 1 : 0)
            doc["creation"] = now
            doc["modified"] = now
            doc["owner"] = "Administrator"
            world.erpnext.documents.put("\(doctype)/\(name)", .object(doc))
            if doc["docstatus"] == 1 { Self.send(.object(doc), world: world) }
            return Answer.json(["data": .object(doc)])
        }
        // Frappe's `frappe.client.cancel`: a submitted document becomes cancelled (docstatus 2). An
        // invoice a payment is allocated to cannot be (ERPNext's LinkExistsError).
        routes.on(.post, "/api/method/frappe.client.cancel") { request, _ throws(ServiceFailure) in
            let body = try await Answer.jsonObject(request, .erpnext)
            let key = "\(body["doctype"]?.string ?? "")/\(body["name"]?.string ?? "")"
            guard let doc = world.erpnext.documents[key] else {
                throw .notFound(.erpnext, "\(key.replacingOccurrences(of: "/", with: " ")) not found")
            }
            guard doc["docstatus"]?.int == 1 else {
                throw .shaped(.erpnext, status: 417, message: "Cannot cancel: the document is not submitted", type: "ValidationError")
            }
            if ["Paid", "Partly Paid"].contains(doc["status"]?.string ?? "") {
                throw .shaped(.erpnext, status: 417, message: "Cannot cancel: \(key) is linked with a Payment Entry",
                              type: "LinkExistsError")
            }
            let cancelled = world.erpnext.documents.update(key) { doc in
                doc["docstatus"] = .int(2)
                doc["status"] = "Cancelled"
                doc["modified"] = .string(SandboxIDs.frappeTimestamp())
            }
            return Answer.json(["message": cancelled ?? doc])
        }
        routes.on(.get, "/api/resource/{doctype}") { request, context throws(ServiceFailure) in
            let doctype = Answer.parameter(context, "doctype")
            let filters = try Self.filters(Answer.query(request)["filters"])
            let names: [SandboxJSON] = world.erpnext.documents.all.filter { doc in
                doc["doctype"]?.string == doctype && filters.allSatisfy { doc[$0.field]?.string == $0.value }
            }.map { ["name": $0["name"] ?? .null] }
            return Answer.json(["data": .array(names)])
        }
        routes.on(.get, "/api/resource/{doctype}/{name}") { _, context throws(ServiceFailure) in
            let key = "\(Answer.parameter(context, "doctype"))/\(Answer.parameter(context, "name"))"
            guard let doc = world.erpnext.documents[key] else {
                throw .notFound(.erpnext, "\(key.replacingOccurrences(of: "/", with: " ")) not found")
            }
            return Answer.json(["data": doc])
        }
    }

    /// Frappe's `filters=[["field", "=", "value"], …]` (only `=` is played).
    static func filters(_ text: String?) throws(ServiceFailure) -> [(field: String, value: String)] {
        guard let text else { return [] }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String]],
              parsed.allSatisfy({ $0.count == 3 && $0[1] == "=" }) else {
            throw .shaped(.erpnext, status: 417, message: "The sandbox plays filters [[field, \"=\", value], …] only", type: "ValidationError")
        }
        return parsed.map { ($0[0], $0[2]) }
    }

    /// `{doctype, name, event: "on_submit", modified, data, tenant_id?}`.
    static func send(_ doc: SandboxJSON, world: SandboxWorld) {
        let doctype = doc["doctype"]?.string ?? ""
        let name = doc["name"]?.string ?? ""
        var event: SandboxJSON = ["doctype": .string(doctype), "name": .string(name), "event": "on_submit",
                                  "modified": doc["modified"] ?? .null, "data": doc]
        if let tenant = doc["tenant_id"]?.string { event["tenant_id"] = .string(tenant) }
        let id = "\(doctype):\(name):on_submit:\(doc["modified"]?.string ?? "")"
        world.webhooks.send(.erpnext, eventID: id, type: "\(doctype).on_submit", body: event)
    }
}

/// What the ERPNext sandbox keeps: documents by `doctype/name`, and each doctype's naming series.
final class ERPNextState: Sendable {
    let documents = RecordStore()
    private let counters = Mutex<[String: Int]>([:])

    /// `ACC-SINV-2025-00001`, `ACC-PAY-2025-00001`: ERPNext's default naming series.
    func nextName(_ doctype: String) -> String {
        let number = counters.withLock { counters -> Int in
            counters[doctype, default: 0] += 1
            return counters[doctype] ?? 1
        }
        let series = doctype == "Sales Invoice" ? "ACC-SINV" : doctype == "Payment Entry" ? "ACC-PAY" : doctype.uppercased()
        let year = Calendar(identifier: .gregorian).component(.year, from: Date())
        return String(format: "%@-%d-%05d", series, year, number)
    }

    func reset() {
        documents.reset()
        counters.withLock { $0 = [:] }
    }
}
