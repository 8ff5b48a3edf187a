import Connectors
import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// `tenant.updated` (from the commerce side; `data` holds the tenant's `name`, `settings`,
/// `branding` and `updated_at`): stores the tenant's name and settings, and propagates settings and
/// branding to the content side — one document per tenant in Payload's `tenant-settings`
/// collection (found by `tenant_id`, created the first time). A part the event leaves out (name,
/// settings, branding) keeps its stored value. Never backwards: the event applies
/// only if its `updated_at` is newer than the last applied, so a late event changes nothing
/// (ignored). The version row stays locked while Payload is written, so two events for one tenant
/// write one after the other, and a failed write rolls the version back for the retry.
struct TenantUpdatedHandler: WebhookEventHandler {
    let database: Database?
    let payload: PayloadConnector?

    /// The content side's collection of per-tenant settings and branding.
    static let collection = "tenant-settings"

    /// The Payload document of a tenant.
    struct Content: Encodable {
        let tenant_id: String
        let slug: String
        let name: String
        let settings: JSONValue
        let branding: JSONValue
        let source_updated_at: String
    }

    func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
        let kind = "webhook \(event.type)"
        let database = try JobDependency.required(database, "a database", for: kind)
        let payload = try JobDependency.required(payload, "the Payload connector", for: kind)
        let tenant = try EventTenant.required(event, context)
        let updatedAt = try event.requiredString("data", "updated_at")
        guard let stamp = EventClock.millis(updatedAt) else {
            throw JobFailure.permanent("\(event.source) \(event.type) event \(event.eventID): data.updated_at \(updatedAt) is not a timestamp")
        }
        let name = event.string("data", "name")
        // An absent (or null) part keeps the stored one: an event that left branding out used to
        // wipe the tenant's branding here and in Payload.
        func object(_ field: String) throws(JobFailure) -> JSONValue? {
            guard let value = event.value(["data", field]), value != .null else { return nil }
            guard case .object = value else {
                throw .permanent("\(event.source) \(event.type) event \(event.eventID): data.\(field) must be an object")
            }
            return value
        }
        let settings = try object("settings")
        let branding = try object("branding")
        let logger = context.logger
        return try await database.withTenant(tenant) { connection in
            guard try await ObjectVersions.advance("tenant.settings", tenant.uuidString.lowercased(), to: stamp, tenant: tenant,
                                                   on: connection, logger: logger) else { return .ignored }
            let settingsText = settings?.jsonText
            let brandingText = branding?.jsonText
            let rows = try await connection.query("""
                UPDATE tenants SET name = coalesce(\(name), name),
                    settings = coalesce(\(settingsText)::jsonb, settings)
                        || jsonb_build_object('branding', coalesce(\(brandingText)::jsonb,
                                                                   nullif(\(settingsText)::jsonb -> 'branding', 'null'::jsonb),
                                                                   nullif(settings -> 'branding', 'null'::jsonb), '{}'::jsonb)),
                    updated_at = now()
                WHERE id = \(tenant) RETURNING slug, name, settings::text
                """, logger: logger)
            var stored: (String, String, String)?
            for try await row in rows.decode((String, String, String).self) { stored = row }
            guard let (slug, storedName, storedSettings) = stored else {
                throw JobFailure.permanent("tenant \(tenant) is not provisioned here; \(event.type) cannot apply")
            }
            let storedJSON = (try? JSONValue.parse(storedSettings)) ?? .object([:])
            var brandingNow = JSONValue.object([:])
            if case .object(let fields) = storedJSON, let stored = fields["branding"] { brandingNow = stored }
            let content = Content(tenant_id: tenant.uuidString.lowercased(), slug: slug, name: storedName,
                                  settings: storedJSON, branding: brandingNow, source_updated_at: updatedAt)
            try await Self.write(content, to: payload)
            return .processed
        }
    }

    /// Updates the tenant's Payload document, or creates it.
    static func write(_ content: Content, to payload: PayloadConnector) async throws {
        do {
            let found = try await payload.find(JSON.self, in: collection, where: "tenant_id", equals: content.tenant_id, limit: 1)
            if let id = found.docs.first?["id"]?.idValue {
                _ = try await payload.update(id: id, content, in: collection, as: JSON.self)
            } else {
                _ = try await payload.create(content, in: collection, as: JSON.self)
            }
        } catch {
            throw OutsideCall.failure(error, "writing tenant \(content.tenant_id)'s settings to Payload")
        }
    }
}
