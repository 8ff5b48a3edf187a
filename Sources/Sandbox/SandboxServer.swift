import AsyncHTTPClient
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The server that plays Stripe, Medusa, Payload, Fleetbase and ERPNext for local runs and tests
/// (docs/sandbox.md): one listener on loopback, each service under its own path prefix, state kept
/// in memory for the life of the process, a control API under `/_sandbox`, and signed webhooks
/// back to the platform's ingress. `run()` serves until `stop()` or until its task is cancelled.
public final class SandboxServer: Sendable {
    public let configuration: SandboxConfiguration
    private let logger: Logger
    private let http: HTTPClient
    private let world: SandboxWorld
    private let lifecycle = Mutex(Lifecycle())

    private struct Lifecycle {
        var task: Task<Void, any Error>?
        var group: ServiceGroup?
        var stopRequested = false
        var port: Int?
        var ended: (any Error)?
        var portWaiters: [CheckedContinuation<Int, any Error>] = []
    }

    public init(configuration: SandboxConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.http = HTTPClient(eventLoopGroupProvider: .singleton,
                               configuration: .init(redirectConfiguration: .disallow))
        self.world = SandboxWorld(configuration: configuration,
                                  webhooks: WebhookSender(configuration: configuration, http: http, logger: logger))
    }

    /// Serves until `stop()`; throws if the port cannot be opened.
    public func run() async throws {
        let app = Application(
            router: makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port),
                                                    serverName: nil),
            onServerRunning: { [weak self] channel in self?.listening(on: channel) },
            logger: logger)
        // Stopped by a graceful shutdown (`stop`): open connections finish what they are
        // answering and close, and Hummingbird logs no error, as it does when cancelled.
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let webhooks = world.webhooks
        let task = Task {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await webhooks.run() }
                // The server ends by a graceful shutdown (stop), by cancellation, or by failing to listen.
                do {
                    try await group.run()
                } catch {
                    webhooks.stop()
                    throw error
                }
                webhooks.stop()
                try await tasks.waitForAll()
            }
        }
        let stopNow = lifecycle.withLock { state -> Bool in
            state.task = task
            state.group = group
            return state.stopRequested
        }
        if stopNow { task.cancel() }
        let result = await withTaskCancellationHandler {
            await task.result
        } onCancel: {
            self.stop()
        }
        try? await http.shutdown()
        let stopped = lifecycle.withLock { $0.stopRequested }
        switch result {
        case .success:
            failWaiters(CancellationError())
        case .failure(let error):
            failWaiters(error)
            if !stopped { throw error }
        }
        logger.info("sandbox stopped")
    }

    /// Stops serving: hanging calls are released, webhook delivery stops, `run()` returns.
    public func stop() {
        let group = lifecycle.withLock { state -> ServiceGroup? in
            state.stopRequested = true
            return state.group
        }
        world.scripting.releaseAll()
        world.webhooks.stop()
        if let group { Task { await group.triggerGracefulShutdown() } }
    }

    /// The port the sandbox listens on, once it does (useful with port 0).
    public func listeningPort() async throws -> Int {
        try await withCheckedThrowingContinuation { waiter in
            let known = lifecycle.withLock { state -> Result<Int, any Error>? in
                if let port = state.port { return .success(port) }
                if let ended = state.ended { return .failure(ended) }
                state.portWaiters.append(waiter)
                return nil
            }
            if let known { waiter.resume(with: known) }
        }
    }

    /// `http://127.0.0.1:<port>`, once listening: the value for `sandbox.url`.
    public func baseURL() async throws -> String {
        "http://\(configuration.host):\(try await listeningPort())"
    }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let routes = { (service: SandboxService) in ServiceRoutes(router: router, service: service, world: self.world) }
        StripeRoutes(routes: routes(.stripe)).register()
        MedusaRoutes(routes: routes(.medusa)).register()
        PayloadRoutes(routes: routes(.payload)).register()
        FleetbaseRoutes(routes: routes(.fleetbase)).register()
        ERPNextRoutes(routes: routes(.erpnext)).register()
        ControlRoutes(router: router, world: world).register()
        return router
    }

    private func listening(on channel: any Channel) {
        let port = channel.localAddress?.port ?? configuration.port
        logger.info("sandbox listening", metadata: [
            "host": "\(configuration.host)", "port": "\(port)", "webhooks": "\(configuration.webhooksURL)/{source}",
            "signed_sources": "\(configuration.webhookSecrets.keys.sorted().joined(separator: ","))"])
        let waiters = lifecycle.withLock { state -> [CheckedContinuation<Int, any Error>] in
            state.port = port
            defer { state.portWaiters = [] }
            return state.portWaiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    private func failWaiters(_ error: any Error) {
        let waiters = lifecycle.withLock { state -> [CheckedContinuation<Int, any Error>] in
            if state.port == nil { state.ended = error }
            defer { state.portWaiters = [] }
            return state.portWaiters
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }
}
