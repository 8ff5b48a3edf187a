import Foundation
import Logging

/// A job kind: its name, its `Codable` arguments, its queue, retry policy and timeout,
/// declared beside the code that runs it. A handler can only ever receive the arguments
/// type it declares; anything else is a dead letter with the reason, never a crash.
///
/// ```swift
/// struct SendInvoice: JobHandler {
///     struct Arguments: Codable, Sendable { var invoiceID: String }
///     static let kind = "billing.send_invoice"
///     static let options = JobOptions(queue: "billing", retry: .exponentialJitter(maxAttempts: 8))
///     func run(_ arguments: Arguments, context: JobContext) async throws { … }
/// }
/// ```
public protocol JobHandler: Sendable {
    associatedtype Arguments: Codable & Sendable
    /// The kind name carried in envelopes, e.g. `diag.noop`.
    static var kind: String { get }
    static var options: JobOptions { get }
    func run(_ arguments: Arguments, context: JobContext) async throws
}

/// What a job kind declares besides its code.
public struct JobOptions: Sendable {
    public var queue: String
    public var retry: RetryPolicy
    /// A job running longer is cancelled and counts as a failed attempt.
    public var timeout: Duration

    public init(queue: String = "default", retry: RetryPolicy = .exponentialJitter(),
                timeout: Duration = .seconds(60)) {
        self.queue = queue
        self.retry = retry
        self.timeout = timeout
    }
}

/// What a running job knows about itself.
public struct JobContext: Sendable {
    public let jobID: String
    public let kind: String
    public let queue: String
    public let tenant: String?
    /// 1 for the first attempt.
    public let attempt: Int
    public let maxAttempts: Int
    public let enqueuedAt: Int64
    public let trace: String?
    public let logger: Logger
    /// Where `reportProgress` goes: the worker's list of running jobs (`RunningNow`).
    private let progressSink: (@Sendable (String) -> Void)?

    public init(envelope: JobEnvelope, logger: Logger, progress: (@Sendable (String) -> Void)? = nil) {
        self.init(header: envelope.header, logger: logger, progress: progress)
    }

    public init(header envelope: JobEnvelope.Header, logger: Logger, progress: (@Sendable (String) -> Void)? = nil) {
        self.jobID = envelope.id
        self.kind = envelope.kind
        self.queue = envelope.queue
        self.tenant = envelope.tenant
        self.attempt = envelope.attempt + 1
        self.maxAttempts = envelope.maxAttempts
        self.enqueuedAt = envelope.enqueuedAt
        self.trace = envelope.trace
        self.logger = logger
        self.progressSink = progress
    }

    /// Says how far a long job has got ("4,500 of 12,000 products checked"), for operators: it is
    /// shown with the job in `cityos running`, `GET /v1/queues/{queue}/running` and the dashboard,
    /// from the worker process's next heartbeat on. The latest note replaces the one before; at
    /// most `progressLimit` bytes of it are kept. Costs a lock, no I/O: call it per batch freely.
    /// Never put secrets or customer data in it.
    public func reportProgress(_ note: String) {
        progressSink?(Self.clipped(note))
    }

    /// The most bytes of a progress note kept.
    public static let progressLimit = 200

    /// `note` cut to `progressLimit` bytes of UTF-8, on a character boundary.
    static func clipped(_ note: String) -> String {
        guard note.utf8.count > progressLimit else { return note }
        var out = ""
        for character in note {
            if out.utf8.count + character.utf8.count > progressLimit { break }
            out.append(character)
        }
        return out
    }
}
