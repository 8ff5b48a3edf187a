import Connectors
import Foundation
import Logging
import PostgresNIO
import Store

/// A product's link: the Payload document that holds its content, the versions of both sides
/// the sync last saw, and the values both sides last agreed on (`sync_links`).
public struct SyncLink: Sendable, Equatable {
    public var medusaID: String
    public var payloadDocID: String
    public var medusaVersion: Int64
    public var payloadVersion: Int64
    public var synced: [String: JSON]
    public var archived: Bool

    public init(medusaID: String, payloadDocID: String, medusaVersion: Int64, payloadVersion: Int64,
                synced: [String: JSON], archived: Bool = false) {
        self.medusaID = medusaID
        self.payloadDocID = payloadDocID
        self.medusaVersion = medusaVersion
        self.payloadVersion = payloadVersion
        self.synced = synced
        self.archived = archived
    }
}

/// The sync's tables, read and written inside a tenant transaction (row-level security keeps
/// every statement to that tenant): per-product locks, links, conflicts.
enum SyncLinks {
    /// For a transaction that holds its products' locks across its calls to Medusa and Payload
    /// (a reconciliation batch: hundreds of them): the pool's idle-in-transaction limit
    /// (`database.idle_in_transaction_timeout_seconds`) would end the session midway, after the
    /// outside writes and before their links and conflicts are saved.
    static func allowLongOutsideCalls(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SET LOCAL idle_in_transaction_session_timeout = 0", logger: logger)
    }

    /// Serializes everyone who syncs these products (event handlers, the reconciliation) until
    /// the transaction ends. Locks are taken in sorted order, so two batches never deadlock.
    static func lock(_ medusaIDs: [String], tenant: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        let keys = medusaIDs.map { "sync:\(tenant.uuidString.lowercased()):\($0)" }.sorted()
        guard !keys.isEmpty else { return }
        let rows = try await connection.query("""
            SELECT pg_advisory_xact_lock(hashtextextended(k, 0))
            FROM (SELECT k FROM unnest(\(keys)::text[]) AS k ORDER BY k) AS sorted
            """, logger: logger)
        for try await _ in rows {}
    }

    static func links(medusaIDs: [String], on connection: PostgresConnection, logger: Logger) async throws -> [String: SyncLink] {
        guard !medusaIDs.isEmpty else { return [:] }
        let rows = try await connection.query("""
            SELECT medusa_product_id, payload_doc_id, medusa_version, payload_version, synced::text, archived_at IS NOT NULL
            FROM sync_links WHERE medusa_product_id = ANY(\(medusaIDs)::text[])
            """, logger: logger)
        var found: [String: SyncLink] = [:]
        for try await (id, doc, medusaVersion, payloadVersion, synced, archived)
            in rows.decode((String, String, Int64, Int64, String, Bool).self) {
            found[id] = SyncLink(medusaID: id, payloadDocID: doc, medusaVersion: medusaVersion, payloadVersion: payloadVersion,
                                 synced: decode(synced), archived: archived)
        }
        return found
    }

    static func link(medusaID: String, on connection: PostgresConnection, logger: Logger) async throws -> SyncLink? {
        try await links(medusaIDs: [medusaID], on: connection, logger: logger)[medusaID]
    }

    /// The product whose content is `docID`, if it is linked.
    static func medusaID(payloadDocID docID: String, on connection: PostgresConnection, logger: Logger) async throws -> String? {
        let rows = try await connection.query(
            "SELECT medusa_product_id FROM sync_links WHERE payload_doc_id = \(docID)", logger: logger)
        for try await id in rows.decode(String.self) { return id }
        return nil
    }

    /// The products these documents are linked to, by document id (a document linked to none is
    /// left out; with `activeOnly`, so is one whose link is archived, its product deleted).
    static func medusaIDs(payloadDocIDs docIDs: [String], activeOnly: Bool = false, on connection: PostgresConnection,
                          logger: Logger) async throws -> [String: String] {
        guard !docIDs.isEmpty else { return [:] }
        let rows = try await connection.query("""
            SELECT payload_doc_id, medusa_product_id FROM sync_links
            WHERE payload_doc_id = ANY(\(docIDs)::text[]) AND (NOT \(activeOnly) OR archived_at IS NULL)
            """, logger: logger)
        var owners: [String: String] = [:]
        for try await (docID, medusaID) in rows.decode((String, String).self) { owners[docID] = medusaID }
        return owners
    }

    /// Inserts or updates `links` in one statement.
    static func save(_ links: [SyncLink], tenant: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        guard !links.isEmpty else { return }
        let rows: [JSON] = links.map { link in
            .object(["medusa_product_id": .string(link.medusaID), "payload_doc_id": .string(link.payloadDocID),
                     "medusa_version": .number(Decimal(link.medusaVersion)), "payload_version": .number(Decimal(link.payloadVersion)),
                     "synced": .object(link.synced), "archived": .bool(link.archived)])
        }
        try await connection.query("""
            INSERT INTO sync_links (tenant_id, medusa_product_id, payload_doc_id, medusa_version, payload_version, synced, archived_at)
            SELECT \(tenant), r.medusa_product_id, r.payload_doc_id, r.medusa_version, r.payload_version, r.synced,
                   CASE WHEN r.archived THEN now() END
            FROM jsonb_to_recordset(\(encode(rows))::jsonb)
                 AS r(medusa_product_id text, payload_doc_id text, medusa_version bigint, payload_version bigint,
                      synced jsonb, archived boolean)
            ON CONFLICT (tenant_id, medusa_product_id) DO UPDATE SET
                payload_doc_id = excluded.payload_doc_id, medusa_version = excluded.medusa_version,
                payload_version = excluded.payload_version, synced = excluded.synced,
                archived_at = CASE WHEN excluded.archived_at IS NULL THEN NULL
                                   ELSE coalesce(sync_links.archived_at, excluded.archived_at) END,
                updated_at = now()
            """, logger: logger)
    }

    /// Appends the conflicts resolved for products (medusa id, document id).
    static func record(_ conflicts: [(medusaID: String, docID: String?, conflict: SyncConflict)], tenant: UUID,
                       detectedBy: String, jobID: String, on connection: PostgresConnection, logger: Logger) async throws {
        guard !conflicts.isEmpty else { return }
        let rows: [JSON] = conflicts.map { entry in
            .object(["id": .string(UUID().uuidString.lowercased()), "medusa_product_id": .string(entry.medusaID),
                     "payload_doc_id": entry.docID.map(JSON.string) ?? .null, "field": .string(entry.conflict.field),
                     "commerce_value": entry.conflict.commerceValue, "content_value": entry.conflict.contentValue,
                     "winner": .string(entry.conflict.winner.rawValue), "reason": .string(entry.conflict.reason)])
        }
        try await connection.query("""
            INSERT INTO sync_conflicts (tenant_id, id, medusa_product_id, payload_doc_id, field, commerce_value, content_value,
                                        winner, reason, detected_by, job_id)
            SELECT \(tenant), r.id, r.medusa_product_id, r.payload_doc_id, r.field, r.commerce_value, r.content_value,
                   r.winner, r.reason, \(detectedBy), \(jobID)
            FROM jsonb_to_recordset(\(encode(rows))::jsonb)
                 AS r(id uuid, medusa_product_id text, payload_doc_id text, field text, commerce_value jsonb,
                      content_value jsonb, winner text, reason text)
            """, logger: logger)
    }

    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    static func decode(_ text: String) -> [String: JSON] {
        (try? JSONDecoder().decode([String: JSON].self, from: Data(text.utf8))) ?? [:]
    }
}
