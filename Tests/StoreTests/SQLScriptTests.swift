import XCTest
@testable import Store

/// Migration files run statement by statement; only top-level semicolons split them.
final class SQLScriptTests: XCTestCase {
    func testSplitsAtTopLevelSemicolonsAndDropsCommentOnlyParts() {
        let sql = """
            -- a header comment; with a semicolon
            CREATE TABLE a (id int);
            /* block; /* nested; */ still comment; */
            INSERT INTO a VALUES (1);
            -- trailing comment;
            """
        XCTAssertEqual(SQLScript.statements(in: sql), [
            "-- a header comment; with a semicolon\nCREATE TABLE a (id int)",
            "/* block; /* nested; */ still comment; */\nINSERT INTO a VALUES (1)",
        ])
    }

    func testQuotesAndDollarQuotesDoNotSplit() {
        let sql = """
            SELECT 'it''s; fine', E'back\\'slash;', "odd;name" FROM t;
            CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql;
            DO $$ BEGIN PERFORM 1; END $$;
            SELECT $1::int
            """
        let statements = SQLScript.statements(in: sql)
        XCTAssertEqual(statements.count, 4, "\(statements)")
        XCTAssertEqual(statements[1], "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql")
        XCTAssertEqual(statements[2], "DO $$ BEGIN PERFORM 1; END $$")
        XCTAssertEqual(statements[3], "SELECT $1::int")
    }

    func testTheCoreMigrationSplitsIntoWholeStatements() throws {
        let core = try XCTUnwrap(Migration.bundled().first)
        let statements = SQLScript.statements(in: core.sql)
        XCTAssertGreaterThan(statements.count, 20)
        XCTAssertTrue(statements.allSatisfy { !$0.hasSuffix(";") && !$0.isEmpty })
    }
}
