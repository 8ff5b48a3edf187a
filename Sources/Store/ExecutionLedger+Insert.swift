import Foundation
import PostgresNIO
import Queue

extension ExecutionLedger {
    /// A row to insert as a job's whole effect: its table and columns (names fixed in code,
    /// never input) and the values, bound as parameters.
    public struct Insert: Sendable {
        public let table: StaticString
        public let columns: [StaticString]
        public let values: [any PostgresThrowingDynamicTypeEncodable & Sendable]

        public init(into table: StaticString, columns: [StaticString], values: [any PostgresThrowingDynamicTypeEncodable & Sendable]) {
            self.table = table
            self.columns = columns
            self.values = values
        }
    }

    /// For a job whose whole effect is one INSERT: the ledger row and the effect are written by
    /// one statement — one round trip instead of four, and just as atomic, since a single
    /// statement is its own transaction. The tenant is set for that statement, so row-level
    /// security applies to the insert as it would in `withTenant`.
    ///
    /// - Returns: `.ran` if this delivery wrote the row, `.alreadyDone` if an earlier one had.
    /// - Throws: `JobFailure.permanent` when the id's ledger row is another scope's (another
    ///   tenant claimed this id first), as `runOnce` does; `StoreError` when the database failed.
    public func insertOnce(jobID: String, kind: String, tenant: UUID?, _ insert: Insert) async throws -> LedgerOutcome {
        precondition(insert.columns.count == insert.values.count, "one value per column")
        var binds = PostgresBindings(capacity: 4 + insert.values.count)
        var sql = """
            WITH scope AS (SELECT set_config('app.tenant_id', $1, true)),
                 claim AS (INSERT INTO job_executions (job_id, kind, tenant_id)
                           SELECT $2, $3, $4::uuid FROM scope
                           ON CONFLICT (job_id) DO NOTHING RETURNING job_id)
            INSERT INTO \(insert.table) (\(insert.columns.map { "\($0)" }.joined(separator: ", ")))
            SELECT 
            """
        do {
            binds.append(tenant?.uuidString.lowercased() ?? "")
            binds.append(jobID)
            binds.append(kind)
            if let tenant { binds.append(tenant) } else { binds.appendNull() }
            for (index, value) in insert.values.enumerated() {
                try binds.append(value)
                sql += (index == 0 ? "" : ", ") + "$\(5 + index)"
            }
        } catch {
            throw StoreError.query("encoding the values of job \(jobID)", error)
        }
        sql += " FROM claim RETURNING 1"
        do {
            let rows = try await database.client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: database.logger)
            for try await _ in rows { return .ran }
        } catch {
            throw StoreError.query("recording job \(jobID) and its effect", error)
        }
        // Nothing inserted: an earlier delivery's row, or one another scope holds (row-level
        // security hides it), which must not pass for this job's having run.
        let logger = database.logger
        let seen: Bool
        if let tenant {
            seen = try await database.withTenant(tenant) { try await Self.visible(jobID, tenant: tenant, $0, logger) }
        } else {
            seen = try await database.withoutTenant { try await Self.visible(jobID, tenant: nil, $0, logger) }
        }
        guard seen else {
            throw JobFailure.permanent("job id \(jobID) is already recorded in another scope's execution ledger "
                + "(another tenant's, or a tenant's for a platform job): not run")
        }
        return .alreadyDone
    }
}
