import ArgumentParser

/// `cityos config`: the effective configuration, where each value came from, secrets masked.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Print the effective configuration (secrets masked).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let platform = try Platform.load(global)
        for line in platform.config.describe() { print(line) }
        print("listening: http://\(platform.config.httpHost):\(platform.config.httpPort)")
    }
}
