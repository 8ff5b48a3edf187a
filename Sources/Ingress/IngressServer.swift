import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import Queue
import Redis
import ServiceLifecycle
import Synchronization

/// The HTTP ingress and operations API in one server: signed webhooks in, authenticated
/// enqueue, status and dead letters for operators, metrics, health, the OpenAPI document and the
/// dashboard. `run()` serves until `stop()`, which stops accepting connections and lets requests
/// in progress finish.
public final class IngressServer: Sendable {
    public let configuration: IngressConfiguration
    public let metrics: IngressMetrics
    private let redis: RedisClient
    private let registry: JobRegistry
    private let readinessChecks: [ReadinessCheck]
    private let schedules: ScheduleReport?
    private let handedInGauges: HandedInGauges?
    private let webhookInbox: WebhookInboxReport?
    private let logger: Logger
    private let requestLogWriter: RequestLog.Writer?
    private let lifecycle = Mutex(Lifecycle())

    private struct Lifecycle {
        var group: ServiceGroup?
        var stopRequested = false
        var port: Int?
        /// Why the server is not (or no longer) listening, once `run()` has returned.
        var ended: (any Error)?
        var portWaiters: [CheckedContinuation<Int, any Error>] = []
    }

    /// - Parameters:
    ///   - readinessChecks: what `/readyz` checks; by default, Redis answers PING.
    ///   - schedules: what `GET /v1/schedules` answers (the scheduler's status as JSON); without
    ///     it that route answers 503 `not_configured`.
    ///   - handedInGauges: more gauges `GET /metrics` reads at each scrape (the schedules').
    ///   - webhookInbox: what `GET /v1/webhooks/inbox` answers (recent webhook outcomes, from the
    ///     store); without it that route answers 503 `not_configured`.
    ///   - requestLogWriter: writes request lines in the log's own format without going through
    ///     `Logger` metadata (see `RequestLog`); without it they are `logger.info` lines.
    public init(configuration: IngressConfiguration, redis: RedisClient, registry: JobRegistry,
                metrics: IngressMetrics = IngressMetrics(), readinessChecks: [ReadinessCheck]? = nil,
                schedules: ScheduleReport? = nil, handedInGauges: HandedInGauges? = nil,
                webhookInbox: WebhookInboxReport? = nil, logger: Logger,
                requestLogWriter: RequestLog.Writer? = nil) {
        self.configuration = configuration
        self.schedules = schedules
        self.handedInGauges = handedInGauges
        self.webhookInbox = webhookInbox
        self.redis = redis
        self.registry = registry
        self.metrics = metrics
        self.readinessChecks = readinessChecks ?? [.redis(redis)]
        self.logger = logger
        self.requestLogWriter = requestLogWriter
    }

    /// Where request lines go; nil when they are off.
    private var requestLog: RequestLog? {
        configuration.logRequests ? RequestLog(logger: logger, writer: requestLogWriter) : nil
    }

    /// Every route the server answers, as `METHOD /path/{param}` (for the OpenAPI test).
    public func routeDescriptions() -> [String] {
        makeRouter().routes.map { "\($0.method.rawValue) \($0.path)" }
    }

    func makeRouter() -> Router<IngressContext> { makeRoutes(group: MultiThreadedEventLoopGroup.singleton).router }

    /// The router, and the webhook rules it uses (which the event-loop fast path shares, with
    /// an enqueuer on each loop of `group`).
    private func makeRoutes(group: any EventLoopGroup) -> (router: Router<IngressContext>, webhooks: WebhookRoutes?) {
        // Every GET also answers HEAD (its status and headers, no body), as HTTP asks of a server.
        let router = Router(context: IngressContext.self, options: .autoGenerateHeadEndpoints)
        let warnings = OnceWarnings()
        let table = RouteTable()
        defer { table.fill(from: router.routes) }   // once every route below is registered
        router.add(middleware: RequestLogMiddleware(metrics: metrics, logger: logger, requestLog: requestLog))
        router.add(middleware: ErrorMiddleware(routes: table))

        if configuration.metricsOnly {
            HealthRoutes(checks: readinessChecks, timeout: .seconds(2)).register(on: router)
            MetricsRoute(metrics: metrics, redis: redis, namespace: configuration.namespace, queueGauges: false).register(on: router)
            return (router, nil)
        }
        let client = JobClient(redis: redis, registry: registry, namespace: configuration.namespace)
        var maxAttempts: [WebhookSource: Int] = [:]
        for source in WebhookSource.allCases {
            if let options = registry.options(for: source.jobKind) { maxAttempts[source] = options.retry.maxAttempts }
        }
        let webhooks = WebhookRoutes(secrets: configuration.webhookSecrets.mapValues { SigningKey(secret: Array($0.utf8)) },
                                     maxAttempts: maxAttempts, dedupeSeconds: configuration.webhookDedupeSeconds,
                                     enqueuers: LoopEnqueuers(group: group, client: client),
                                     metrics: metrics,
                                     warnings: warnings, logger: logger)
        webhooks.register(on: router)
        HealthRoutes(checks: readinessChecks, timeout: .seconds(2)).register(on: router)
        MetricsRoute(metrics: metrics, redis: redis, namespace: configuration.namespace, handedIn: handedInGauges)
            .register(on: router)
        DocumentRoutes().register(on: router)
        if configuration.benchRoute {
            router.post("/bench/noop") { _, _ in Accepted(jobID: "noop", duplicate: false).response() }
        }

        let ops = router.group("/v1")
            .add(middleware: OpsAuthMiddleware(token: configuration.opsToken, warnings: warnings, logger: logger))
        JobRoutes(client: client, metrics: metrics).register(on: ops)
        QueueRoutes(redis: redis, namespace: configuration.namespace).register(on: ops)
        let schedules = self.schedules
        ops.get("/schedules") { _, _ in
            guard let schedules else { throw APIError.notConfigured("the schedules report") }
            return JSONText.response(json: try await schedules())
        }
        WebhookInboxRoute(report: webhookInbox).register(on: ops)
        return (router, webhooks)
    }

    /// Serves until `stop()` (or until the listening socket cannot be opened, which throws).
    public func run() async throws {
        guard let count = configuration.eventLoops else {
            return try await serve(on: MultiThreadedEventLoopGroup.singleton)
        }
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: max(1, count))
        do {
            try await serve(on: loops)
        } catch {
            try? await loops.shutdownGracefully()
            throw error
        }
        try? await loops.shutdownGracefully()
    }

    private func serve(on eventLoopGroup: any EventLoopGroup) async throws {
        let routes = makeRoutes(group: eventLoopGroup)
        await routes.webhooks?.enqueuers.warmUp()
        defer { routes.webhooks?.enqueuers.close() }
        let lane = configuration.webhookFastPath ? routes.webhooks.map {
            WebhookFastLane(routes: $0, metrics: metrics, requestLog: requestLog)
        } : nil
        let idleTimeout = configuration.idleTimeoutSeconds > 0
            ? TimeAmount.milliseconds(Int64(configuration.idleTimeoutSeconds * 1000)) : nil
        let server = HTTPServerBuilder { responder in
            IngressHTTP1Channel(http1: HTTP1Channel(responder: responder), lane: lane, idleTimeout: idleTimeout)
        }
        let app = Application(
            router: routes.router,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port),
                                                    serverName: nil),
            onServerRunning: { [weak self] channel in self?.listening(on: channel) },
            eventLoopGroupProvider: .shared(eventLoopGroup),
            logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(services: [app], logger: logger)
        // A request still in progress (a client trickling its body) cannot hold a stop up for ever.
        groupConfiguration.maximumGracefulShutdownDuration = Self.drainLimit
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        let stopNow = lifecycle.withLock { state -> Bool in
            state.group = group
            return state.stopRequested
        }
        if stopNow { return }
        do {
            try await group.run()
        } catch {
            failWaiters(error)
            throw error
        }
        failWaiters(CancellationError())
        logger.info("ingress stopped")
    }

    /// How long a stop waits for requests in progress before cancelling them (their clients see the
    /// connection close and send again: nothing they were told is accepted is lost).
    public static let drainLimit: Duration = .seconds(10)

    /// Stops accepting connections and lets requests in progress finish (for at most `drainLimit`);
    /// `run()` then returns.
    public func stop() async {
        let group = lifecycle.withLock { state -> ServiceGroup? in
            state.stopRequested = true
            return state.group
        }
        await group?.triggerGracefulShutdown()
    }

    /// The port the server listens on, once it does (useful with port 0).
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

    private func listening(on channel: any Channel) {
        let port = channel.localAddress?.port ?? configuration.port
        logger.info(configuration.metricsOnly ? "metrics listening" : "ingress listening",
                    metadata: ["host": "\(configuration.host)", "port": "\(port)", "bench_route": "\(configuration.benchRoute)"])
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

/// The scheduler's status as JSON bytes (the ingress knows no scheduler: the process that has
/// one hands this in).
public typealias ScheduleReport = @Sendable () async throws -> [UInt8]
