import Foundation
import Logging
import PostgresNIO
import Store

/// What operators see of the inbox (`GET /v1/webhooks/inbox`): counts by status over a window and
/// the newest events. Read as the platform role, across tenants.
public struct WebhookInboxSummary: Sendable, Encodable {
    public struct Event: Sendable, Encodable {
        public var source: String
        public var eventID: String
        public var type: String
        public var tenantID: UUID?
        public var status: String
        public var error: String?
        public var attempts: Int
        public var receivedAt: Date
        public var updatedAt: Date

        enum CodingKeys: String, CodingKey {
            case source, type, status, error, attempts
            case eventID = "event_id", tenantID = "tenant_id", receivedAt = "received_at", updatedAt = "updated_at"
        }
    }

    public var since: Date
    /// Every status, zero included.
    public var counts: [String: Int]
    public var events: [Event]

    /// - Parameters: status: only events of this status; limit: at most this many events;
    ///   hours: the window of the counts and events (by last update).
    public static func read(database: Database, status: String?, limit: Int, hours: Int) async throws -> WebhookInboxSummary {
        let since = Date().addingTimeInterval(-Double(hours) * 3600)
        let logger = Logger(label: "cityos.webhooks.inbox")
        return try await database.withPlatformSweep { connection in
            var counts = Dictionary(uniqueKeysWithValues: WebhookInbox.InboxStatus.allCases.map { ($0.rawValue, 0) })
            let totals = try await connection.query(
                "SELECT status, count(*)::int FROM webhook_inbox WHERE updated_at >= \(since) GROUP BY status", logger: logger)
            for try await (name, count) in totals.decode((String, Int).self) { counts[name] = count }
            let rows = try await connection.query("""
                SELECT source, external_id, type, tenant_id, status, error, attempts, received_at, updated_at
                FROM webhook_inbox WHERE updated_at >= \(since) AND (\(status)::text IS NULL OR status = \(status))
                ORDER BY updated_at DESC, id DESC LIMIT \(limit)
                """, logger: logger)
            var events: [Event] = []
            for try await row in rows.decode((String, String, String, UUID?, String, String?, Int, Date, Date).self) {
                events.append(Event(source: row.0, eventID: row.1, type: row.2, tenantID: row.3, status: row.4, error: row.5,
                                    attempts: row.6, receivedAt: row.7, updatedAt: row.8))
            }
            return WebhookInboxSummary(since: since, counts: counts, events: events)
        }
    }

    /// The report as JSON (dates ISO 8601), as the ingress serves it.
    public func json() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(self))
    }
}
