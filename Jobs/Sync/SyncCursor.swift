import Foundation
import Logging
import PostgresNIO
import Store

/// Where a tenant's reconciliation is (`sync_cursors`): first Medusa's products by offset, then
/// Payload's documents by page. Saved in the same transaction as each batch's links, so a run that
/// dies resumes after its last committed batch.
struct SyncCursor: Sendable, Equatable {
    enum Phase: String, Sendable { case medusa, payload }

    static let name = "products"

    var phase: Phase
    var position: Int
    var runJobID: String
    var checked: Int64 = 0
    var repaired: Int64 = 0
    var conflicts: Int64 = 0
    /// Whether this run was started by an earlier job (or delivery) and is being resumed.
    var resumed = false

    /// The unfinished run's cursor (whichever job started it), else a fresh one for `jobID`.
    static func resumeOrStart(tenant: UUID, jobID: String, database: Database, logger: Logger) async throws -> SyncCursor {
        try await database.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT phase, position, run_job_id, checked, repaired, conflicts FROM sync_cursors
                WHERE name = \(name) AND finished_at IS NULL FOR UPDATE
                """, logger: logger)
            for try await (phase, position, run, checked, repaired, conflicts) in rows.decode((String, Int64, String, Int64, Int64, Int64).self) {
                return SyncCursor(phase: Phase(rawValue: phase) ?? .medusa, position: Int(position), runJobID: run,
                                  checked: checked, repaired: repaired, conflicts: conflicts, resumed: true)
            }
            let fresh = SyncCursor(phase: .medusa, position: 0, runJobID: jobID)
            try await connection.query("""
                INSERT INTO sync_cursors (tenant_id, name, phase, position, run_job_id)
                VALUES (\(tenant), \(name), 'medusa', 0, \(jobID))
                ON CONFLICT (tenant_id, name) DO UPDATE SET phase = 'medusa', position = 0, run_job_id = excluded.run_job_id,
                    checked = 0, repaired = 0, conflicts = 0, started_at = now(), updated_at = now(), finished_at = NULL
                """, logger: logger)
            return fresh
        }
    }

    /// Saves the cursor in the caller's transaction; `finished` closes the run.
    func save(tenant: UUID, finished: Bool = false, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE sync_cursors SET phase = \(phase.rawValue), position = \(Int64(position)), checked = \(checked),
                repaired = \(repaired), conflicts = \(conflicts), updated_at = now(),
                finished_at = CASE WHEN \(finished) THEN now() END
            WHERE name = \(Self.name) AND run_job_id = \(runJobID)
            """, logger: logger)
    }
}
