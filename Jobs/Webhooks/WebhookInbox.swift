import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// The webhook inbox (`webhook_inbox`): every event stored once per (source, event id), with what
/// became of it — `received` while a delivery runs, then `processed`, `ignored` or `failed` (with
/// the error) — how many times the job ran it, and when. The webhook job writes it around the
/// dispatch (see ``WebhookEventJob``), so every handler gets it without a line of its own.
///
/// The row is written under the event's tenant (row-level security) when the envelope names one
/// that is a UUID; otherwise it is a platform row (tenant_id NULL), which only a transaction with
/// no tenant set reads (migration 0008).
public struct WebhookInbox: Sendable {
    /// What a delivery found when it opened the event's row.
    public enum Opening: Sendable, Equatable {
        /// Run the handler (first delivery, or an earlier one failed or was cut short).
        case run(attempts: Int)
        /// An earlier delivery already settled it (`processed` or `ignored`): nothing to do again.
        case settled(WebhookOutcome)
    }

    public let database: Database
    public let counter: WebhookOutcomeCounter

    public init(database: Database, counter: WebhookOutcomeCounter = .process) {
        self.database = database
        self.counter = counter
    }

    /// Stores the event (once per source and event id) or counts one more attempt at it.
    public func open(_ event: WebhookEventArguments, tenant: UUID?, logger: Logger) async throws -> Opening {
        let payload = event.payload.jsonText
        let scope = tenant?.uuidString.lowercased() ?? ""
        let received = Date(timeIntervalSince1970: Double(event.receivedAt) / 1000)
        do {
            let rows = try await database.client.query("""
                WITH scope AS (SELECT set_config('app.tenant_id', \(scope), true))
                INSERT INTO webhook_inbox (source, external_id, type, payload, tenant_id, received_at, attempts)
                SELECT \(event.source), \(event.eventID), \(event.type), \(payload)::jsonb, \(tenant), \(received), 1 FROM scope
                ON CONFLICT (source, external_id) DO UPDATE
                    SET attempts = webhook_inbox.attempts + 1, updated_at = now(),
                        status = CASE WHEN webhook_inbox.status IN ('processed', 'ignored') THEN webhook_inbox.status
                                      ELSE 'received' END
                RETURNING status, attempts
                """, logger: logger)
            for try await (status, attempts) in rows.decode((String, Int).self) {
                if let settled = WebhookOutcome(rawValue: status) { return .settled(settled) }
                return .run(attempts: attempts)
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501"
                    && (error.serverInfo?[.routine] == "ExecWithCheckOptions"
                        || error.serverInfo?[.message]?.contains("row-level security") == true) {
            // The event's row exists in another scope (another tenant's, or the platform's when this
            // delivery names a tenant): row-level security refuses to touch it, which its routine says
            // in any language. (Any other 42501, a missing grant, is the deployment's: retried, not
            // dead-lettered as another tenant's.)
            throw JobFailure.permanent("webhook \(event.source) \(event.eventID) is in the inbox under another tenant or none")
        } catch {
            throw DatabaseFailure("storing webhook \(event.source) \(event.eventID) in the inbox", error)
        }
        // The row exists but row-level security hides it (this id in another scope).
        throw JobFailure.permanent("webhook \(event.source) \(event.eventID) is in the inbox under another tenant or none")
    }

    /// Records the handler's outcome (or its failure) on the event's row, and counts it.
    ///
    /// One statement, as `open` is (one round trip instead of four; it took webhook throughput from
    /// ~700 to ~1000 events/s on the test machine): the row exists (open made it, payload and all),
    /// so the INSERT always turns into the UPDATE of its conflict clause. It is written as an INSERT
    /// so that the tenant is set (the `scope` CTE feeds the inserted row) before row-level security
    /// checks the row it updates — an UPDATE's own scan could check it before the CTE ran.
    public func close(_ event: WebhookEventArguments, tenant: UUID?, outcome: InboxStatus, error: String? = nil,
                      logger: Logger) async throws {
        counter.count(source: event.source, outcome: outcome.rawValue)
        let scope = tenant?.uuidString.lowercased() ?? ""
        let message = error.map { String($0.prefix(2000)) }
        let received = Date(timeIntervalSince1970: Double(event.receivedAt) / 1000)
        do {
            try await database.client.query("""
                WITH scope AS (SELECT set_config('app.tenant_id', \(scope), true))
                INSERT INTO webhook_inbox (source, external_id, type, payload, tenant_id, received_at, attempts, status, error)
                SELECT \(event.source), \(event.eventID), \(event.type), '{}'::jsonb, \(tenant), \(received), 1,
                       \(outcome.rawValue), \(message) FROM scope
                ON CONFLICT (source, external_id) DO UPDATE
                    SET status = EXCLUDED.status, error = EXCLUDED.error, updated_at = now(),
                        processed_at = CASE WHEN EXCLUDED.status = 'failed' THEN webhook_inbox.processed_at ELSE now() END
                    -- An event already handled stays handled: a second job for it (an operator's
                    -- replay, a recovered job) that failed does not make it look unhandled.
                    WHERE EXCLUDED.status <> 'failed' OR webhook_inbox.status NOT IN ('processed', 'ignored')
                """, logger: logger)
        } catch {
            throw DatabaseFailure("recording webhook \(event.source) \(event.eventID) as \(outcome.rawValue)", error)
        }
    }

    /// The statuses of an inbox row.
    public enum InboxStatus: String, Sendable, Codable, CaseIterable {
        case received, processed, ignored, failed

        init(_ outcome: WebhookOutcome) {
            switch outcome {
            case .processed: self = .processed
            case .ignored: self = .ignored
            }
        }
    }
}

/// A failed query of a job's own, with PostgreSQL's message (a `PSQLError` describes itself only
/// generically, to keep data out of logs; the server's message names the constraint or column).
struct DatabaseFailure: Error, CustomStringConvertible {
    let description: String

    init(_ operation: String, _ error: any Error) {
        if let failure = error as? DatabaseFailure {
            description = failure.description
        } else if let psql = error as? PSQLError, let message = psql.serverInfo?[.message] {
            description = "\(operation): \(message) (SQLSTATE \(psql.serverInfo?[.sqlState] ?? "?"))"
        } else {
            description = "\(operation): \(error)"
        }
    }
}
