import XCTest
@testable import Store

/// Database URLs: `postgres://user[:password]@host[:port]/database`, clear errors, no leaked passwords.
final class DatabaseURLTests: XCTestCase {
    func testParsesUserPasswordHostPortAndDatabase() throws {
        let url = try DatabaseURL("postgres://cityos_app:s%40cret@db.internal:6543/cityos?sslmode=require")
        XCTAssertEqual(url, DatabaseURL(username: "cityos_app", password: "s@cret", host: "db.internal",
                                        port: 6543, database: "cityos", tls: .require))
        XCTAssertEqual(url.description, "postgres://cityos_app:****@db.internal:6543/cityos?sslmode=require")
    }

    /// Each part is percent-decoded once: a password with a literal `%41` (written `%2541`) stays
    /// `%41`, as every other client reads it.
    func testPartsArePercentDecodedOnce() throws {
        let url = try DatabaseURL("postgres://app%2541:ab%2541%40@h/db%2541")
        XCTAssertEqual(url.username, "app%41")
        XCTAssertEqual(url.password, "ab%41@")
        XCTAssertEqual(url.database, "db%41")
    }

    func testDefaultsToPort5432WithoutPasswordOrTLS() throws {
        let url = try DatabaseURL("postgresql://cityos@127.0.0.1/cityos")
        XCTAssertEqual(url, DatabaseURL(username: "cityos", host: "127.0.0.1", database: "cityos"))
    }

    func testRejectsIncompleteURLsSayingWhy() {
        let cases = [
            "mysql://u@h/db": "the scheme must be postgres:// or postgresql://",
            "postgres://h/db": "no user name (postgres://user@host/database)",
            "postgres://u@h": "no database name (postgres://user@host/database)",
            "postgres://u@h/db?sslmode=maybe": "sslmode must be disable, prefer or require",
            "postgres://u@h/db?timeout=3": "unknown parameter timeout (only sslmode is understood)",
        ]
        for (string, reason) in cases {
            XCTAssertThrowsError(try DatabaseURL(string), string) { error in
                XCTAssertEqual(error as? StoreError, .invalidURL(string, reason: reason))
            }
        }
    }

    func testErrorsNeverShowThePassword() {
        XCTAssertThrowsError(try DatabaseURL("postgres://u:hunter2@h")) { error in
            XCTAssertFalse("\(error)".contains("hunter2"), "\(error)")
        }
    }
}
