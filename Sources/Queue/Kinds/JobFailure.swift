/// Why a job did not succeed, and whether trying again can help.
public enum JobFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The envelope is not a job at all (not JSON, missing fields): straight to the dead letters.
    case poison(String)
    /// No handler is registered for this kind: straight to the dead letters.
    case unknownKind(String)
    /// The arguments do not decode into the kind's arguments type: straight to the dead letters.
    case badArguments(String)
    /// The handler ran longer than its kind's timeout and was cancelled: retried.
    case timedOut(Duration)
    /// A handler's way to say a retry cannot help (e.g. a card reported lost): dead letters.
    case permanent(String)
    /// The worker process is shutting down and the job was returned to its queue.
    case interrupted

    public var description: String {
        switch self {
        case .poison(let m): return "poison envelope: \(m)"
        case .unknownKind(let k): return "unknown job kind '\(k)': no handler is registered for it"
        case .badArguments(let m): return "arguments do not decode: \(m)"
        case .timedOut(let d): return "timed out after \(d.seconds)s"
        case .permanent(let m): return "permanent failure: \(m)"
        case .interrupted: return "interrupted by shutdown"
        }
    }

    /// The sentence a dead letter, a retry and the logs give for `error`.
    public static func reason(for error: any Error) -> String {
        if let failure = error as? JobFailure { return failure.description }
        if error is CancellationError { return "cancelled" }
        if let described = error as? any OperatorDescribedError { return described.operatorDescription }
        return String(describing: error)
    }

    /// Failures no retry can fix.
    public var isPermanent: Bool {
        switch self {
        case .poison, .unknownKind, .badArguments, .permanent: return true
        case .timedOut, .interrupted: return false
        }
    }
}

/// An error that knows a better sentence for the dead letter and the logs than its own
/// description (e.g. a PostgreSQL error, whose description is generic on purpose: the Store
/// gives it the server's message and SQLSTATE).
public protocol OperatorDescribedError: Error {
    var operatorDescription: String { get }
}

extension Duration {
    /// The duration in (fractional) seconds.
    public var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
