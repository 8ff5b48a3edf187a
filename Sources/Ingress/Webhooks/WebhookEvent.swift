import Crypto
import NIOCore
import Queue

/// What the ingress needs to know about a verified event: its id (for deduplication), its type
/// and its tenant. Read from the body, per source (docs/webhooks.md):
/// - Stripe: `id`, `type`; tenant from `data.object.metadata.tenant_id` if present.
/// - Medusa, Payload (platform envelope): `id`, `type`, `data`; tenant from `tenant_id`.
/// - Fleetbase: `id`, `event`; tenant from `tenant_id`.
/// - ERPNext: `doctype`, `name`, `event` (+ `modified`), from the webhook's JSON template;
///   id `doctype:name:event:modified` (or the body's `id`), type `doctype.event`.
struct WebhookEvent: Equatable {
    var id: String
    var type: String
    var tenant: String?

    static let maxIDLength = 255

    /// The fields any source's event may carry; everything else in the body is left alone.
    private enum Field: Int, CaseIterable {
        case id, type, event, tenantID, doctype, name, modified, stripeTenantID

        var path: [String] {
            switch self {
            case .id: return ["id"]
            case .type: return ["type"]
            case .event: return ["event"]
            case .tenantID: return ["tenant_id"]
            case .doctype: return ["doctype"]
            case .name: return ["name"]
            case .modified: return ["modified"]
            case .stripeTenantID: return ["data", "object", "metadata", "tenant_id"]
            }
        }
    }

    private static let scanner = JSONFieldScanner(paths: Field.allCases.map(\.path))

    static func read(_ source: WebhookSource, body: ByteBuffer) throws(APIError) -> WebhookEvent {
        let scanned = body.withUnsafeReadableBytes { bytes in Result { () throws(JSONFieldScanner.Invalid) in try scanner.scan(bytes) } }
        let found: [Int: String]
        switch scanned {
        case .success(let values): found = values
        case .failure(let invalid): throw .malformedJSON("the body is not a JSON object: \(invalid.reason)")
        }
        func field(_ field: Field) -> String? { found[field.rawValue] }
        var event: WebhookEvent
        switch source {
        case .stripe:
            event = WebhookEvent(id: try required(field(.id), "id"), type: try required(field(.type), "type"),
                                 tenant: nonEmpty(field(.stripeTenantID)) ?? nonEmpty(field(.tenantID)))
        case .medusa, .payload:
            event = WebhookEvent(id: try required(field(.id), "id"), type: try required(field(.type), "type"),
                                 tenant: nonEmpty(field(.tenantID)))
        case .fleetbase:
            event = WebhookEvent(id: try required(field(.id), "id"), type: try required(field(.event), "event"),
                                 tenant: nonEmpty(field(.tenantID)))
        case .erpnext:
            let doctype = try required(field(.doctype), "doctype")
            let name = try required(field(.name), "name")
            let action = try required(field(.event), "event")
            // An empty value counts as absent (the tenant's too, for every source): a Frappe
            // template renders a missing field as "", and an empty id would make every such event
            // one duplicate of the first.
            let version = nonEmpty(field(.modified)) ?? Self.digest(body)
            event = WebhookEvent(id: nonEmpty(field(.id)) ?? "\(doctype):\(name):\(action):\(version)",
                                 type: "\(doctype).\(action)", tenant: nonEmpty(field(.tenantID)))
        }
        guard event.id.utf8.count <= maxIDLength else {
            throw .badRequest("the event id is longer than \(maxIDLength) bytes")
        }
        if let tenant = event.tenant, !KeyName.isValid(tenant) {
            throw .badRequest("tenant_id must be \(KeyName.rule)")
        }
        return event
    }

    private static func nonEmpty(_ value: String?) -> String? {
        value.flatMap { $0.isEmpty ? nil : $0 }
    }

    private static func required(_ value: String?, _ name: String) throws(APIError) -> String {
        guard let value, !value.isEmpty else {
            throw .missingField("the event has no '\(name)'")
        }
        return value
    }

    /// A short digest of the body, standing in for a version the sender did not give.
    private static func digest(_ body: ByteBuffer) -> String {
        Hex.encode(Array(SHA256.hash(data: Array(body.readableBytesView)).prefix(12)))
    }
}
