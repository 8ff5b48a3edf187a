import ArgumentParser
import Sandbox

/// `cityos sandbox [--port N]`: the server that plays Stripe, Medusa, Payload, Fleetbase and
/// ERPNext for local runs and tests (docs/sandbox.md). Stops on SIGTERM or SIGINT.
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run the sandbox that plays the outside services (default port: that of sandbox.url).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Port to listen on, 0 for any free port (default: the port of sandbox.url).")
    var port: Int?

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be 0...65535") }
    }

    func run() async throws {
        let platform = try Platform.load(global, label: "cityos.sandbox")
        let server = SandboxServer(configuration: .from(platform.config, port: port), logger: platform.logger)
        let signals = TerminationSignals { server.stop() }
        defer { signals.cancel() }
        do {
            try await server.run()
        } catch {
            throw userError("sandbox: cannot listen: \(error)")
        }
    }
}
