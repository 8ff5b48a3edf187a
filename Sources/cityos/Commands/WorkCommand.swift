import ArgumentParser
import Ingress
import Jobs
import Queue
import Scheduler
import Synchronization

/// `cityos work`: a worker process on the given queues.
struct WorkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "work", abstract: "Run a worker process: fetch and run jobs until SIGTERM.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Queues and weights, e.g. webhooks:3,default:1 (default: workers.queues).")
    var queues: String?
    @Option(help: "Jobs running at once (default: workers.concurrency).")
    var concurrency: Int?
    @Option(help: "Serve this process's /metrics (jobs processed, failed, durations), /healthz and /readyz on this port (0: any free port; the log line 'metrics listening' names it).")
    var metricsPort: Int?

    func validate() throws {
        if let metricsPort, !(0...65_535).contains(metricsPort) { throw ValidationError("--metrics-port must be 0...65535") }
    }

    func run() async throws {
        let platform = try Platform.load(global, label: "cityos.worker")
        let metrics = IngressMetrics()
        WebhookOutcomeCounter.process.forward(to: metrics.countWebhookOutcome)
        var forward: (@Sendable (JobEvent) -> Void)?
        if metricsPort != nil { forward = { @Sendable event in metrics.observe(event) } }
        let pool = WorkerPool(redis: platform.redis, registry: platform.registry,
                              configuration: try platform.workerConfiguration(queues: queues, concurrency: concurrency),
                              logger: platform.logger, observer: JobOutcomeLog.observer(platform.logger, also: forward))
        let server = metricsPort.map { platform.ingressServer(metrics: metrics, metricsOnly: $0) }
        let stopped = Atomic<Bool>(false)
        let signals = TerminationSignals {
            stopped.store(true, ordering: .relaxed)
            pool.stop()
            if let server { Task { await server.stop() } }
        }
        defer { signals.cancel() }
        let stopStore = platform.startStoreServices()
        var serving: Task<Void, any Error>?
        do {
            if let server {
                serving = Task { try await server.run() }
                _ = try await server.listeningPort()   // a port that cannot be opened stops start-up
            }
            if try await platform.waitForSchema(stopped: { stopped.load(ordering: .relaxed) }) {
                try await pool.run()
            }
        } catch {
            await server?.stop()
            _ = await serving?.result
            await stopStore()
            throw error
        }
        await server?.stop()
        _ = await serving?.result
        await stopStore()
        platform.redis.shutdown()
    }
}

/// `cityos run`: every role in one process: the HTTP ingress, the scheduler and the worker
/// pool. On SIGTERM all three stop at once: the scheduler; the server stops accepting and
/// finishes its requests (for at most `IngressServer.drainLimit`); the pool takes no new job and
/// finishes or returns its running ones within the shutdown grace. The pool's grace does not
/// wait for the server's drain, so that a slow client cannot use up the time a supervisor gives
/// before SIGKILL.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the whole platform in one process until SIGTERM.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let platform = try Platform.load(global, label: "cityos")
        let scheduler = try platform.makeScheduler()
        let metrics = IngressMetrics()
        WebhookOutcomeCounter.process.forward(to: metrics.countWebhookOutcome)
        let pool = WorkerPool(redis: platform.redis, registry: platform.registry,
                              configuration: try platform.workerConfiguration(), logger: platform.logger,
                              observer: JobOutcomeLog.observer(platform.logger, also: metrics.observe))
        let server = platform.ingressServer(metrics: metrics)
        let stopped = Atomic<Bool>(false)
        let signals = TerminationSignals {
            stopped.store(true, ordering: .relaxed)
            scheduler.stop()
            pool.stop()
            Task { await server.stop() }
        }
        defer { signals.cancel() }
        platform.logger.info("cityos run", metadata: ["redis": "\(RedisEndpointDescription.of(platform))"])
        let stopStore = platform.startStoreServices()
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await scheduler.run() }
                group.addTask {
                    defer {   // the server has stopped (or failed to start): the others follow
                        scheduler.stop()
                        pool.stop()
                    }
                    try await server.run()
                }
                do {
                    // The ingress and the scheduler only enqueue: they may start on an old schema.
                    if try await platform.waitForSchema(stopped: { stopped.load(ordering: .relaxed) }) {
                        try await pool.run()
                    }
                } catch {
                    scheduler.stop()
                    await server.stop()
                    throw error
                }
            }
        } catch {
            await stopStore()
            throw error
        }
        await stopStore()
        platform.redis.shutdown()
    }
}

enum RedisEndpointDescription {
    static func of(_ platform: Platform) -> String { platform.redis.configuration.endpoint.redacted }
}
