import Foundation
import PostgresNIO
@testable import Store

/// A tenant with one store and one vendor, created the way provisioning does: in a
/// transaction as that (new) tenant.
struct TenantFixture {
    let id: UUID
    let storeID: UUID
    let vendorID: UUID

    static func create(in app: Database) async throws -> TenantFixture {
        let fixture = TenantFixture(id: UUID(), storeID: UUID(), vendorID: UUID())
        let slug = "t-" + fixture.id.uuidString.lowercased()
        let logger = TestDatabases.logger
        try await app.withTenant(fixture.id) { connection in
            try await connection.query(
                "INSERT INTO tenants (id, slug, name, domains) VALUES (\(fixture.id), \(slug), 'Test', \([slug + ".cityos.test"]))",
                logger: logger
            )
            try await connection.query(
                """
                INSERT INTO stores (tenant_id, id, slug, name, default_currency)
                VALUES (\(fixture.id), \(fixture.storeID), 'main', 'Main', 'EUR')
                """,
                logger: logger
            )
            try await connection.query(
                """
                INSERT INTO vendors (tenant_id, id, store_id, slug, name, stripe_account_id, payouts_enabled,
                                     minimum_payout_amount, minimum_payout_currency)
                VALUES (\(fixture.id), \(fixture.vendorID), \(fixture.storeID), 'vendor', 'Vendor',
                        \("acct_" + fixture.vendorID.uuidString.lowercased()), true, 5000, 'EUR')
                """,
                logger: logger
            )
        }
        return fixture
    }
}

extension PostgresConnection {
    /// Runs a query and returns its rows' first column, for short assertions.
    func values<Value: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: Value.Type) async throws -> [Value] {
        var values: [Value] = []
        for try await value in try await self.query(query, logger: TestDatabases.logger).decode(Value.self) {
            values.append(value)
        }
        return values
    }

    /// Runs a statement and returns how many rows it changed.
    func affectedRows(_ query: PostgresQuery) async throws -> Int {
        let future: EventLoopFuture<PostgresQueryResult> = self.query(query, logger: TestDatabases.logger)
        return try await future.get().metadata.rows ?? 0
    }
}
