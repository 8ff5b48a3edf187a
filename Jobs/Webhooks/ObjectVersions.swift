import Foundation
import Logging
import PostgresNIO
import Queue

/// The newest version applied per outside object (`object_versions`): an event applies only if
/// its version is greater than the one held, so events arriving out of order never move a record
/// backwards. The row stays locked until the caller's transaction ends, so two events about one
/// object apply one after the other.
enum ObjectVersions {
    /// Records `version` for (kind, id) if it is newer than the one held; true if it was (apply the
    /// event), false if the event is older or the same (ignore it).
    /// - Throws: `JobFailure.permanent` when the tenant does not exist here (its row is what the
    ///   version row refers to): no retry can make the event apply.
    static func advance(_ kind: String, _ id: String, to version: Int64, tenant: UUID,
                        on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        do {
            let rows = try await connection.query("""
                INSERT INTO object_versions (tenant_id, kind, object_id, version) VALUES (\(tenant), \(kind), \(id), \(version))
                ON CONFLICT (tenant_id, kind, object_id) DO UPDATE SET version = EXCLUDED.version, updated_at = now()
                    WHERE object_versions.version < EXCLUDED.version
                RETURNING 1
                """, logger: logger)
            for try await _ in rows { return true }
            return false
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23503" {
            throw JobFailure.permanent("tenant \(tenant) is not provisioned here: the \(kind) event cannot apply")
        }
    }

    /// Where an event stands against the version held for its object.
    enum Step: Equatable {
        /// Newer than the one held (or the first): recorded; apply the event.
        case newer
        /// The same version as the one held: the two events cannot be ordered by their versions
        /// (e.g. two Stripe events stamped in the same second). The row is locked as for `newer`.
        case same
        /// Older: ignore the event.
        case older
    }

    /// `advance`, telling a tie apart from an older event, so that a caller whose versions can tie
    /// can settle the tie another way (e.g. by reading the object from its service). A tie's row
    /// stays locked until the caller's transaction ends: `ON CONFLICT DO UPDATE` locks the row
    /// it finds even when its `WHERE` turns the update down.
    static func step(_ kind: String, _ id: String, to version: Int64, tenant: UUID,
                     on connection: PostgresConnection, logger: Logger) async throws -> Step {
        if try await advance(kind, id, to: version, tenant: tenant, on: connection, logger: logger) { return .newer }
        let rows = try await connection.query("""
            SELECT version FROM object_versions WHERE tenant_id = \(tenant) AND kind = \(kind) AND object_id = \(id)
            """, logger: logger)
        for try await held in rows.decode(Int64.self) { return held == version ? .same : .older }
        return .older
    }

    /// A version from a timestamp (ms) and a rank that breaks ties between two states stamped in
    /// the same millisecond (e.g. a delivery dispatched and completed at once): later rank wins.
    /// `millis` is an ``EventClock`` time (1970…9999), so the product cannot overflow; anything
    /// outside is clamped rather than trapped on.
    static func version(millis: Int64, rank: Int) -> Int64 {
        max(0, min(millis, EventClock.latestSeconds * 1000 + 999)) * 16 + Int64(max(0, min(15, rank)))
    }
}
