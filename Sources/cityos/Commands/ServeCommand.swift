import ArgumentParser
import Ingress

/// `cityos serve`: the HTTP ingress and operations API alone (no workers).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the HTTP ingress and operations API until SIGTERM.")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Also serve POST /bench/noop (202, no work): the HTTP ceiling, for benchmarks.")
    var benchRoute = false

    func run() async throws {
        let platform = try Platform.load(global, label: "cityos.ingress")
        let server = platform.ingressServer(benchRoute: benchRoute)
        let signals = TerminationSignals { Task { await server.stop() } }
        defer { signals.cancel() }
        let stopDatabase = platform.startDatabasePool()
        do { try await server.run() } catch {
            await stopDatabase()
            throw error
        }
        await stopDatabase()
        platform.redis.shutdown()
    }
}
