import Ingress
import Logging
import Queue

extension Platform {
    /// The HTTP ingress on this platform's configuration and Redis. `/readyz` checks what is
    /// listed here.
    func ingressServer(metrics: IngressMetrics = IngressMetrics(), benchRoute: Bool = false) -> IngressServer {
        let checks: [ReadinessCheck] = [.redis(redis)]
        return IngressServer(configuration: IngressConfiguration(config: config, benchRoute: benchRoute),
                             redis: redis, registry: registry, metrics: metrics, readinessChecks: checks,
                             logger: Logger(label: "cityos.ingress"))
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

    private static func metadata(_ job: JobEnvelope, _ extra: Logger.Metadata) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["job_id": "\(job.id)", "kind": "\(job.kind)", "queue": "\(job.queue)",
                                         "attempt": "\(job.attempt + 1)"]
        if let trace = job.trace {   // W3C traceparent: 00-<trace id>-<span id>-<flags>
            let parts = trace.split(separator: "-")
            metadata["trace_id"] = "\(parts.count == 4 ? parts[1] : Substring(trace))"
        }
        return metadata.merging(extra) { _, new in new }
    }
}
