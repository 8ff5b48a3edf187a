import Foundation
import Ingress
import Jobs
import Logging
import Queue
import Scheduler
import Store

extension Platform {
    /// The HTTP ingress on this platform's configuration and Redis. `/readyz` checks what is
    /// listed here.
    /// - Parameter metricsOnly: a port to serve only `/metrics` and the health routes on (a worker's).
    func ingressServer(metrics: IngressMetrics = IngressMetrics(), benchRoute: Bool = false,
                       metricsOnly port: Int? = nil) -> IngressServer {
        let database = self.database
        let checks: [ReadinessCheck] = [
            .redis(redis),
            ReadinessCheck(name: "postgres") { try await database.withoutTenant { _ in } },
        ]
        var configuration = IngressConfiguration(config: config, benchRoute: benchRoute)
        if let port {
            configuration.port = port
            configuration.metricsOnly = true
        }
        return IngressServer(configuration: configuration,
                             redis: redis, registry: registry, metrics: metrics, readinessChecks: checks,
                             schedules: scheduleReport(), handedInGauges: scheduleGauges(),
                             webhookInbox: webhookInboxReport(),
                             logger: Logger(label: "cityos.ingress"), requestLogWriter: JSONLogHandler.writeRequestLine)
    }

    /// `GET /v1/webhooks/inbox`: read from PostgreSQL on each request.
    func webhookInboxReport() -> WebhookInboxReport {
        let database = self.database
        return { status, limit, hours in
            try await WebhookInboxSummary.read(database: database, status: status, limit: limit, hours: hours).json()
        }
    }

    /// `GET /v1/schedules`: the schedule files read afresh on each request, so the answer
    /// matches `cityos schedules list --json` in this process's directory.
    func scheduleReport() -> ScheduleReport {
        let (directory, registry, redis, namespace) = (config.schedulesDirectory, self.registry, self.redis, self.namespace)
        return {
            let schedules: [ScheduleDefinition]
            do {
                schedules = try ScheduleFiles.load(directory: directory)
            } catch {
                // The operator's to fix, named (the file and its problem; schedule files hold no
                // secrets), not a bare 500.
                throw APIError(.internalServerError, code: "schedules_unreadable",
                               message: "the schedule files could not be read: \(error)")
            }
            let status = try await ScheduleStatus.read(schedules: schedules, registry: registry, redis: redis,
                                                       namespace: namespace)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Array(try encoder.encode(status))
        }
    }

    /// The schedules' alerts on `GET /metrics` (``ScheduleStatus/gaugeReadings``), the files read
    /// afresh at each scrape; `cityos_schedules_up` is 0 while they or Redis cannot be read.
    func scheduleGauges() -> HandedInGauges {
        let (directory, registry, redis, namespace) = (config.schedulesDirectory, self.registry, self.redis, self.namespace)
        return HandedInGauges(group: "schedules", upGauge: "cityos_schedules_up",
                              upHelp: "1 if the last scrape could read the schedule files and their state in Redis.") {
            let schedules = try ScheduleFiles.load(directory: directory)
            return try await ScheduleStatus.read(schedules: schedules, registry: registry, redis: redis,
                                                 namespace: namespace).gaugeReadings
        }
    }
}

extension Platform {
    /// Runs the PostgreSQL pool (for `/readyz`) in the background; returns a function that
    /// stops it. `cityos serve` needs no outbox relay: the worker processes run it.
    func startDatabasePool() -> @Sendable () async -> Void {
        let database = self.database
        let task = Task { await database.run() }
        return {
            database.shutdown()
            await task.value
        }
    }
}

/// One log line per job outcome the queue engine does not already log (success, interruption);
/// retries and dead letters are logged where they are recorded.
enum JobOutcomeLog {
    static func observer(_ logger: Logger, also forward: (@Sendable (JobEvent) -> Void)? = nil) -> JobObserver {
        { event in
            forward?(event)
            switch event {
            case .succeeded(let job, let seconds):
                logger.info("job succeeded", metadata: metadata(job, ["duration_ms": "\(Int(seconds * 1000))"]))
            case .interrupted(let job):
                logger.notice("job interrupted by shutdown; returned to its queue", metadata: metadata(job, [:]))
            case .started, .retrying, .dead:
                break
            }
        }
    }

    private static func metadata(_ job: JobEnvelope.Header, _ extra: Logger.Metadata) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["job_id": "\(job.id)", "kind": "\(job.kind)", "queue": "\(job.queue)",
                                         "attempt": "\(job.attempt + 1)"]
        if let trace = job.trace { metadata["trace_id"] = "\(TraceParent.traceID(of: trace))" }
        return metadata.merging(extra) { _, new in new }
    }
}
