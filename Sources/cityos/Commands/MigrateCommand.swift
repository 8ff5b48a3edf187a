import ArgumentParser

/// `cityos migrate`: applies the schema migrations (see Sources/Store/Migrations).
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply database migrations (idempotent).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let platform = try Platform.load(global)
        print("migrate: the store has no migrations yet (database \(platform.config.databaseURL))")
    }
}
