import Foundation
import PostgresNIO
import Queue
import XCTest
@testable import Store

/// A failed query's dead letter says what PostgreSQL said, not PostgresNIO's generic sentence.
final class OperatorDescriptionTests: XCTestCase {
    func testAFailedQueryInATenantTransactionIsDescribedByTheServersMessage() async throws {
        try await withTestDatabases { databases in
            let logger = TestDatabases.logger
            var caught: (any Error)?
            do {
                try await databases.app.withTenant(UUID()) { connection in
                    let rows = try await connection.query("SELECT 1 / (SELECT 0)", logger: logger)
                    for try await _ in rows {}
                }
            } catch {
                caught = error
            }
            let error = try XCTUnwrap(caught, "dividing by zero must fail")
            let described = try XCTUnwrap((error as? any OperatorDescribedError)?.operatorDescription,
                                          "\(type(of: error)) is not described for operators")
            XCTAssertTrue(described.contains("division by zero"), described)
            XCTAssertTrue(described.contains("SQLSTATE 22012"), described)
            XCTAssertFalse(described.contains("Generic description"), described)
        }
    }
}
