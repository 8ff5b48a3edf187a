import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// Fans billing work out through the outbox in one statement, however many jobs: a cycle over
/// 10,000 subscriptions is one INSERT, not 10,000 (same rows and notification as `Outbox.enqueue`).
enum BillingFanOut {
    struct Job {
        var id: String
        var tenant: UUID
        var argsJSON: String
    }

    /// Adds `jobs` of `kind` to the outbox in the caller's transaction; an id already waiting is skipped.
    static func enqueue(_ jobs: [Job], kind: String, queue: String, on connection: PostgresConnection,
                        logger: Logger) async throws {
        guard !jobs.isEmpty else { return }
        let ids = jobs.map(\.id)
        let tenants = jobs.map(\.tenant)
        let args = jobs.map(\.argsJSON)
        do {
            try await connection.query("""
                INSERT INTO outbox (job_id, kind, queue, tenant_id, args)
                SELECT id, \(kind), \(queue), tenant, args::jsonb FROM unnest(\(ids)::text[], \(tenants)::uuid[], \(args)::text[])
                    AS t(id, tenant, args)
                ON CONFLICT (job_id) DO NOTHING
                """, logger: logger)
            try await connection.query("SELECT pg_notify(\(Outbox.channel), '')", logger: logger)
        } catch {
            let server = PostgresServerMessage(error)
            throw StoreError.queryFailed(operation: "adding \(jobs.count) \(kind) jobs to the outbox",
                                         sqlState: server.sqlState, message: server.message)
        }
    }

    /// `{"subscription_id":"…"}`.
    static func invoiceArgs(_ subscription: UUID) -> String {
        "{\"subscription_id\":\"\(subscription.uuidString.lowercased())\"}"
    }
}
