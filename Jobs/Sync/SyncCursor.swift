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
    /// Products an outside service refused for good in this job, or that Medusa listed for this
    /// tenant but are another's (not kept across jobs: each is logged, and tried again by the
    /// next run).
    var skipped: Int64 = 0
    /// Whether this run was started by an earlier job (or delivery) and is being resumed.
    var resumed = false

    /// How far the run has got, for operators (`cityos running`): where it goes on from, or done.
    func progressNote(finished: Bool) -> String {
        var counts = "\(checked) products checked, \(repaired) repaired, \(conflicts) conflicts"
        if skipped > 0 { counts += ", \(skipped) skipped (refused by Medusa or Payload, unreadable, or not this tenant's; see the log)" }
        if finished { return "done: \(counts)" }
        switch phase {
        case .medusa: return "Medusa's products from offset \(position): \(counts)"
        case .payload: return "Payload's documents from page \(position): \(counts)"
        }
    }

    /// A run quiet for this long is taken over by another job (its holder is presumed dead).
    static let takeOverAfterSeconds = 300

    /// The unfinished run's cursor, resumed by this job if it holds it (a redelivery after a crash)
    /// or the run has been quiet for `takeOverAfterSeconds`; `nil` while another job is working on
    /// it; else a fresh run held by `jobID`.
    static func resumeOrStart(tenant: UUID, jobID: String, database: Database, logger: Logger) async throws -> SyncCursor? {
        try await database.withTenant(tenant) { connection -> SyncCursor? in
            let rows = try await connection.query("""
                SELECT phase, position, run_job_id, checked, repaired, conflicts,
                       held_by = \(jobID) OR updated_at < now() - make_interval(secs => \(takeOverAfterSeconds))
                FROM sync_cursors WHERE name = \(name) AND finished_at IS NULL FOR UPDATE
                """, logger: logger)
            var unfinished: (SyncCursor, Bool)?
            for try await (phase, position, run, checked, repaired, conflicts, mayResume)
                in rows.decode((String, Int64, String, Int64, Int64, Int64, Bool).self) {
                unfinished = (SyncCursor(phase: Phase(rawValue: phase) ?? .medusa, position: Int(position), runJobID: run,
                                         checked: checked, repaired: repaired, conflicts: conflicts, resumed: true), mayResume)
            }
            if let unfinished {
                guard unfinished.1 else { return nil }
                try await connection.query("""
                    UPDATE sync_cursors SET held_by = \(jobID), updated_at = now() WHERE name = \(name)
                    """, logger: logger)
                return unfinished.0
            }
            try await connection.query("""
                INSERT INTO sync_cursors (tenant_id, name, phase, position, run_job_id, held_by)
                VALUES (\(tenant), \(name), 'medusa', 0, \(jobID), \(jobID))
                ON CONFLICT (tenant_id, name) DO UPDATE SET phase = 'medusa', position = 0, run_job_id = excluded.run_job_id,
                    held_by = excluded.held_by, checked = 0, repaired = 0, conflicts = 0, started_at = now(),
                    updated_at = now(), finished_at = NULL
                """, logger: logger)
            return SyncCursor(phase: .medusa, position: 0, runJobID: jobID)
        }
    }

    /// Saves the cursor in the caller's transaction, held by `jobID`; `finished` closes the run.
    /// Throws if another job has taken the run over (this one was presumed dead): the caller's
    /// transaction rolls back and the job stops.
    func save(tenant: UUID, jobID: String, finished: Bool = false, on connection: PostgresConnection, logger: Logger) async throws {
        let rows = try await connection.query("""
            UPDATE sync_cursors SET phase = \(phase.rawValue), position = \(Int64(position)), checked = \(checked),
                repaired = \(repaired), conflicts = \(conflicts), updated_at = now(),
                finished_at = CASE WHEN \(finished) THEN now() END
            WHERE name = \(Self.name) AND run_job_id = \(runJobID) AND held_by = \(jobID) AND finished_at IS NULL
            RETURNING 1
            """, logger: logger)
        var saved = false
        for try await _ in rows { saved = true }
        guard saved else { throw SyncError("sync.reconcile run \(runJobID) is no longer held by job \(jobID): another job took it over") }
    }
}
