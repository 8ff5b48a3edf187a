import CityOSTesting
import Foundation
import PostgresNIO
import Store
import XCTest

/// The sync's tables under row-level security: a tenant's transaction sees and writes only its
/// own links, conflicts and cursors.
final class SyncIsolationTests: XCTestCase {
    func testSyncTablesAreIsolatedByTenant() async throws {
        do {
            try await isolation()
        } catch {
            XCTFail(String(reflecting: error))
        }
    }

    private func isolation() async throws {
        try await SyncWorld.run(workers: false) { world in
            let a = try await world.makeTenant()
            let b = try await world.makeTenant()
            let logger = SyncWorld.logger
            for tenant in [a, b] {
                let product = "prod_\(tenant.uuidString.prefix(8))"
                try await world.app.withTenant(tenant) { connection in
                    try await connection.query("""
                        INSERT INTO sync_links (tenant_id, medusa_product_id, payload_doc_id) VALUES (\(tenant), \(product), \(product + "_doc"))
                        """, logger: logger)
                    try await connection.query("""
                        INSERT INTO sync_conflicts (tenant_id, id, medusa_product_id, field, winner, reason, detected_by, job_id)
                        VALUES (\(tenant), \(UUID()), \(product), 'handle', 'commerce', 'test', 'test', 'job')
                        """, logger: logger)
                    try await connection.query("""
                        INSERT INTO sync_cursors (tenant_id, name, phase, run_job_id, held_by) VALUES (\(tenant), 'products', 'medusa', 'job', 'job')
                        """, logger: logger)
                }
            }
            for table in ["sync_links", "sync_conflicts", "sync_cursors"] {
                let seenByA = try await Self.tenants(in: table, world: world, scope: .tenant(a))
                XCTAssertEqual(seenByA, [a], "\(table): A sees only its own rows")
                let seenByNobody = try await Self.tenants(in: table, world: world, scope: .noTenant)
                XCTAssertEqual(seenByNobody, [], "\(table): no tenant, no rows")
                let seenByB = try await Self.tenants(in: table, world: world, scope: .tenant(b))
                XCTAssertEqual(seenByB, [b], "\(table): B sees only its own rows")
            }
            for table in ["sync_links", "sync_cursors"] {
                let updated = try await world.app.withTenant(b) { connection in
                    try await connection.query(PostgresQuery(unsafeSQL:
                        "UPDATE \(table) SET updated_at = now() WHERE tenant_id = '\(a.uuidString.lowercased())' RETURNING 1"),
                        logger: logger).collect().count
                }
                XCTAssertEqual(updated, 0, "\(table): B cannot touch A's rows")
            }
            do {
                try await world.app.withTenant(b) { connection in
                    try await connection.query("""
                        INSERT INTO sync_links (tenant_id, medusa_product_id, payload_doc_id) VALUES (\(a), 'prod_intruder', 'x')
                        """, logger: logger)
                }
                XCTFail("B wrote a link for A")
            } catch {
                XCTAssertEqual(PostgresServerMessage(error).sqlState, "42501", "row-level security refused it: \(error)")
            }
        }
    }

    static func tenants(in table: String, world: SyncWorld, scope: TransactionScope) async throws -> [UUID] {
        try await world.app.withTransaction(scope) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT DISTINCT tenant_id FROM \(table)"), logger: SyncWorld.logger)
            var found: [UUID] = []
            for try await id in rows.decode(UUID.self) { found.append(id) }
            return found
        }
    }
}
