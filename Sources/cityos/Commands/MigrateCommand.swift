import ArgumentParser
import Logging
import Store

/// `cityos migrate`: applies the schema migrations in Sources/Store/Migrations, each once, in
/// its own transaction, under an advisory lock; an edited applied migration stops it.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply database migrations (idempotent; runs as database.admin_url).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let platform = try Platform.load(global)
        if let mismatch = platform.config.adminURLMismatch { throw userError("configuration: \(mismatch)") }
        let admin: Database
        do {
            admin = try Database(url: platform.config.databaseAdminURL, maximumConnections: 2,
                                 logger: Logger(label: "cityos.migrate"))
        } catch {
            throw userError("configuration: database.admin_url (CITYOS_DATABASE_ADMIN_URL): \(error)")
        }
        let pool = Task { await admin.run() }
        defer { admin.shutdown() }
        do {
            let applied = try await Migrator(database: admin).migrate()
            let names = applied.map(\.name)
            print(names.isEmpty ? "migrate: schema is up to date" : "migrate: applied \(names.joined(separator: ", "))")
        } catch {
            admin.shutdown()
            await pool.value
            throw userError("migrate: \(error)")
        }
        admin.shutdown()
        await pool.value
    }
}
