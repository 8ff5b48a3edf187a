import Foundation
import Logging
import PostgresNIO
@testable import Store

/// The schema as comparable text: tables and columns, constraints, indexes, row-level
/// security flags and policies, privileges, and the recorded migrations (without times).
enum SchemaDump {
    static let query: PostgresQuery = """
        SELECT line FROM (
            SELECT format('column %s.%s %s null=%s default=%s', table_name, column_name, data_type,
                          is_nullable, coalesce(column_default, '-')) AS line
            FROM information_schema.columns WHERE table_schema = 'public'
          UNION ALL
            SELECT format('constraint %s.%s %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
            FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'
          UNION ALL
            SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
          UNION ALL
            SELECT format('table %s owner=%s rls=%s force=%s', c.relname, pg_get_userbyid(c.relowner),
                          c.relrowsecurity, c.relforcerowsecurity)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S')
          UNION ALL
            SELECT format('policy %s.%s %s to=%s using=%s check=%s', tablename, policyname, cmd, roles,
                          coalesce(qual, '-'), coalesce(with_check, '-'))
            FROM pg_policies WHERE schemaname = 'public'
          UNION ALL
            SELECT format('privileges %s %s', c.relname, c.relacl::text)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
          UNION ALL
            SELECT format('column privileges %s.%s %s', c.relname, a.attname, a.attacl::text)
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND a.attacl IS NOT NULL
          UNION ALL
            SELECT format('migration %s %s %s', version, name, checksum) FROM schema_migrations
        ) AS schema ORDER BY line
        """

    /// The dump, read as the schema owner.
    static func of(_ admin: Database) async throws -> [String] {
        let lines = try await admin.withoutTenant { connection in
            var lines: [String] = []
            for try await line in try await connection.query(query, logger: TestDatabases.logger).decode(String.self) {
                lines.append(line)
            }
            return lines
        }
        return lines
    }

    /// Drops everything in the public schema (as its owner), back to a fresh bootstrap.
    static func reset(_ admin: Database) async throws {
        try await admin.withoutTenant { connection in
            try await connection.query("DROP SCHEMA public CASCADE", logger: TestDatabases.logger)
            try await connection.query("CREATE SCHEMA public", logger: TestDatabases.logger)
            try await connection.query(
                "GRANT USAGE ON SCHEMA public TO cityos_app, cityos_platform", logger: TestDatabases.logger
            )
        }
    }
}
