import ArgumentParser
import Connectors
import Foundation

/// `cityos connectors exercise`: a hidden tool that makes N calls to a service through its
/// connector — shared rate limit, timeouts and retries included — and prints one JSON line. The
/// tests run it in several processes at once to show the rate limit holds across processes.
struct ConnectorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connectors", abstract: "Tools for the connectors to outside services.",
        shouldDisplay: false, subcommands: [Exercise.self])

    struct Exercise: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "exercise", abstract: "Make N read calls to a service through its connector.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "stripe (GET an account), medusa (list products), payload (find), fleetbase or erpnext (GET --id).")
        var service: String
        @Option(help: "Number of calls, made one after another.")
        var calls: Int = 10
        @Option(help: "The id to read (a Stripe account, a Fleetbase order, an ERPNext Sales Invoice).")
        var id: String = "unknown"

        func validate() throws {
            guard Service(rawValue: service) != nil else {
                throw ValidationError("--service must be one of: \(Service.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard (1...100_000).contains(calls) else { throw ValidationError("--calls must be 1...100000") }
        }

        func run() async throws {
            let platform = try Platform.load(global, label: "cityos.connectors")
            let connectors = Connectors(config: platform.config, redis: platform.redis, namespace: platform.namespace,
                                        logger: platform.logger)
            let started = ContinuousClock.now
            var failures: [String: Int] = [:]
            for _ in 0..<calls {
                do throws(ConnectorError) {
                    try await call(connectors)
                } catch {
                    failures["\(error)", default: 0] += 1
                }
            }
            let elapsed = ContinuousClock.now - started
            await connectors.shutdown()
            platform.redis.shutdown()
            let summary: [String: Any] = ["service": service, "calls": calls, "failed": failures.values.reduce(0, +),
                                          "errors": failures, "elapsed_ms": elapsed.components.seconds * 1000
                                              + elapsed.components.attoseconds / 1_000_000_000_000_000]
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            if !failures.isEmpty { throw ExitCode(1) }
        }

        private func call(_ connectors: Connectors) async throws(ConnectorError) {
            switch Service(rawValue: service) {
            case .stripe: _ = try await connectors.stripe.account(id: id)
            case .medusa: _ = try await connectors.medusa.products(limit: 1)
            case .payload: _ = try await connectors.payload.find(where: "slug", equals: id, limit: 1)
            case .fleetbase: _ = try await connectors.fleetbase.order(id: id)
            case .erpnext: _ = try await connectors.erpnext.document(doctype: "Sales Invoice", name: id)
            case nil: throw .invalidRequest(service: .stripe, message: "unknown service \(service)")
            }
        }
    }
}
