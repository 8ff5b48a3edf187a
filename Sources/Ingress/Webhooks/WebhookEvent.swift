import Crypto
import Foundation
import NIOCore

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

    static func read(_ source: WebhookSource, body: ByteBuffer) throws(APIError) -> WebhookEvent {
        let head: EventHead
        do {
            head = try JSONDecoder().decode(EventHead.self, from: Data(body.readableBytesView))
        } catch let DecodingError.typeMismatch(_, context) where context.codingPath.isEmpty {
            throw .malformedJSON("the body must be a JSON object")
        } catch {
            throw .malformedJSON("the body is not valid JSON")
        }
        var event: WebhookEvent
        switch source {
        case .stripe:
            event = WebhookEvent(id: try required(head.id, "id"), type: try required(head.type, "type"),
                                 tenant: head.data?.object?.metadata?.tenantID?.value ?? head.tenantID?.value)
        case .medusa, .payload:
            event = WebhookEvent(id: try required(head.id, "id"), type: try required(head.type, "type"),
                                 tenant: head.tenantID?.value)
        case .fleetbase:
            event = WebhookEvent(id: try required(head.id, "id"), type: try required(head.event, "event"),
                                 tenant: head.tenantID?.value)
        case .erpnext:
            let doctype = try required(head.doctype, "doctype")
            let name = try required(head.name, "name")
            let action = try required(head.event, "event")
            let version = head.modified?.value ?? Self.digest(body)
            event = WebhookEvent(id: head.id?.value ?? "\(doctype):\(name):\(action):\(version)",
                                 type: "\(doctype).\(action)", tenant: head.tenantID?.value)
        }
        guard event.id.utf8.count <= maxIDLength else {
            throw .badRequest("the event id is longer than \(maxIDLength) bytes")
        }
        if let tenant = event.tenant, !TenantName.isValid(tenant) {
            throw .badRequest("tenant_id must be 1-64 letters, digits, '_', '-' or '.'")
        }
        return event
    }

    private static func required(_ field: LooseString?, _ name: String) throws(APIError) -> String {
        guard let value = field?.value, !value.isEmpty else {
            throw .missingField("the event has no '\(name)'")
        }
        return value
    }

    /// A short digest of the body, standing in for a version the sender did not give.
    private static func digest(_ body: ByteBuffer) -> String {
        Hex.encode(Array(SHA256.hash(data: Array(body.readableBytesView)).prefix(12)))
    }
}

/// The fields any source's event may carry at its top level; everything else is left alone.
private struct EventHead: Decodable {
    var id: LooseString?
    var type: LooseString?
    var event: LooseString?
    var tenantID: LooseString?
    var doctype: LooseString?
    var name: LooseString?
    var modified: LooseString?
    var data: DataHead?

    enum CodingKeys: String, CodingKey {
        case id, type, event, doctype, name, modified, data
        case tenantID = "tenant_id"
    }

    struct DataHead: Decodable {
        var object: ObjectHead?
        init(from decoder: any Decoder) throws {
            let container = try? decoder.container(keyedBy: CodingKeys.self)
            object = try? container?.decodeIfPresent(ObjectHead.self, forKey: .object)
        }
        enum CodingKeys: String, CodingKey { case object }
    }

    struct ObjectHead: Decodable {
        var metadata: MetadataHead?
        init(from decoder: any Decoder) throws {
            let container = try? decoder.container(keyedBy: CodingKeys.self)
            metadata = try? container?.decodeIfPresent(MetadataHead.self, forKey: .metadata)
        }
        enum CodingKeys: String, CodingKey { case metadata }
    }

    struct MetadataHead: Decodable {
        var tenantID: LooseString?
        init(from decoder: any Decoder) throws {
            let container = try? decoder.container(keyedBy: CodingKeys.self)
            tenantID = try? container?.decodeIfPresent(LooseString.self, forKey: .tenantID)
        }
        enum CodingKeys: String, CodingKey { case tenantID = "tenant_id" }
    }
}

/// A string or a number as text; any other JSON value reads as absent instead of failing.
struct LooseString: Decodable {
    var value: String?

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            value = text
        } else if let number = try? container.decode(Int64.self) {
            value = String(number)
        } else {
            value = nil
        }
    }
}

/// Tenant names as they may appear in Redis keys.
enum TenantName {
    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                return true
            default:
                return false
            }
        }
    }
}
