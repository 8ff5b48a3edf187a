/// An operator's request that the queue engine refuses, and why: the job or dead letter is not
/// there, it is in a state that does not allow it, or what was asked is malformed. The API answers
/// 404, 409 or 400 with `description`; the CLI prints `description` and exits 2. One protocol, so
/// each front end maps every refusal in one place.
public protocol OpsRefusal: Error, CustomStringConvertible {
    var refusal: OpsRefusalKind { get }
}

public enum OpsRefusalKind: Sendable {
    /// The queue holds no such job (or dead letter) now.
    case notFound
    /// The job is somewhere the request cannot act on (running, already dead, not scheduled).
    case conflict
    /// The request itself is malformed (a reason too long).
    case invalid
}

extension DeadLetters.Failure: OpsRefusal {
    public var refusal: OpsRefusalKind {
        if case .notFound = self { return .notFound }
        return .conflict
    }
}

extension JobCancel.Failure: OpsRefusal {
    public var refusal: OpsRefusalKind {
        if case .notFound = self { return .notFound }
        return .conflict
    }
}

extension ScheduledJobs.Failure: OpsRefusal {
    public var refusal: OpsRefusalKind {
        if case .notFound = self { return .notFound }
        return .conflict
    }
}

extension OperatorReason.TooLong: OpsRefusal {
    public var refusal: OpsRefusalKind { .invalid }
}
