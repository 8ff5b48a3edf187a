/// What happens to jobs in a worker process, for observers: metrics, logs, tests.
/// Start and success carry the envelope's header (arguments stay undecoded on the hot path);
/// failures carry the whole envelope with its error history.
public enum JobEvent: Sendable {
    case started(JobEnvelope.Header)
    case succeeded(JobEnvelope.Header, seconds: Double)
    /// A failed attempt that will be tried again at `dueAt` (ms since the epoch).
    case retrying(JobEnvelope, error: String, dueAt: Int64)
    /// A job moved to the dead letters with `reason`.
    case dead(JobEnvelope, reason: String)
    /// A job returned to its queue by shutdown.
    case interrupted(JobEnvelope.Header)
}

/// Receives every `JobEvent` of a pool. Called on the job's own task: keep it quick.
public typealias JobObserver = @Sendable (JobEvent) -> Void
