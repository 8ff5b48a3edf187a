import Logging
import PostgresNIO

/// Whether the role `database.url` connects as is one that row-level security binds.
///
/// Tenant isolation rests on RLS, and PostgreSQL does not apply it to a superuser, to a role with
/// BYPASSRLS, or (without FORCE) to a table's owner, who may also turn it off. Pointed at such a
/// role by mistake (the admin URL pasted into `database.url`), every tenant's job would see every
/// tenant's rows, and nothing would say so. Nor to a role that holds `cityos_platform`'s
/// privileges without `SET ROLE` (a member granted it with INHERIT): the platform's sweep policies
/// (`USING (true)`) then bind it too, and are OR'ed with its tenant's. The application role is a
/// member of `cityos_platform` only with NOINHERIT. Workers check before they take a job.
public enum RoleIsolation {
    /// Why the connected role escapes row-level security, or nil when RLS binds it.
    public static func problem(database: Database) async throws -> String? {
        let logger = database.logger
        return try await database.withoutTenant { connection in
            let rows = try await connection.query("""
                SELECT current_user::text, r.rolsuper, r.rolbypassrls,
                       (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE pg_has_role(r.oid, c.relowner, 'MEMBER') AND c.relkind = 'r' AND n.nspname = current_schema()),
                       EXISTS (SELECT 1 FROM pg_roles p WHERE p.rolname = 'cityos_platform'
                               AND pg_has_role(r.oid, p.oid, 'USAGE'))
                FROM pg_roles r WHERE r.rolname = current_user
                """, logger: logger)
            for try await (role, superuser, bypass, owned, platform) in rows.decode((String, Bool, Bool, Int, Bool).self) {
                let why: String
                if superuser { why = "a superuser" }
                else if bypass { why = "a role with BYPASSRLS" }
                else if owned > 0 { why = "the owner (or a member of the owner role) of \(owned) of the platform's tables" }
                else if platform {
                    why = "a role that inherits cityos_platform's privileges (granted with INHERIT), so the platform's "
                        + "sweep policies, which see every tenant's rows, bind it too; make it NOINHERIT (`ALTER ROLE … "
                        + "NOINHERIT`; from PostgreSQL 16, grant cityos_platform to it WITH INHERIT FALSE)"
                }
                else { return nil }
                return "database.url connects as \(role), \(why): row-level security does not bind it, so tenants "
                    + "would not be isolated. Point database.url (CITYOS_DATABASE_URL) at the application role "
                    + "(cityos_app, which `cityos migrate` creates) and database.admin_url at the owner."
            }
            return nil
        }
    }
}
