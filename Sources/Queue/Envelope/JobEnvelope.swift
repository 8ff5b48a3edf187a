import Foundation

/// A job as it is stored in Redis: JSON, one per job.
/// `attempt` counts the attempts already made; `errors` keeps the most recent failures.
public struct JobEnvelope: Codable, Sendable, Equatable {
    public var id: String
    public var kind: String
    public var queue: String
    public var tenant: String?
    public var args: JSONValue
    public var attempt: Int
    public var maxAttempts: Int
    /// Milliseconds since the Unix epoch.
    public var enqueuedAt: Int64
    /// When the job may run, in milliseconds since the epoch; nil means now.
    public var dueAt: Int64?
    public var errors: [JobErrorRecord]
    /// W3C `traceparent` of whoever enqueued the job, if any.
    public var trace: String?
    /// How many times a worker process died (crash, OOM kill, lost host) while it held the job,
    /// each found by crash recovery; nil for none. A job that keeps killing its process is taken
    /// out of line at ``WorkerConfiguration/crashLimit`` (see `CrashRecovery`).
    public var crashes: Int?

    enum CodingKeys: String, CodingKey {
        case id, kind, queue, tenant, args, attempt, trace, errors, crashes
        case maxAttempts = "max_attempts"
        case enqueuedAt = "enqueued_at"
        case dueAt = "due_at"
    }

    public init(id: String = JobID.make(), kind: String, queue: String, tenant: String? = nil,
                args: JSONValue = .object([:]), attempt: Int = 0, maxAttempts: Int,
                enqueuedAt: Int64 = Clock.nowMillis(), dueAt: Int64? = nil,
                errors: [JobErrorRecord] = [], trace: String? = nil, crashes: Int? = nil) {
        self.id = id
        self.kind = kind
        self.queue = queue
        self.tenant = tenant
        self.args = args
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.enqueuedAt = enqueuedAt
        self.dueAt = dueAt
        self.errors = errors
        self.trace = trace
        self.crashes = crashes
    }

    /// The tenant as used in Redis keys (`_` for platform-level jobs without a tenant).
    public var tenantKey: String { tenant.flatMap { $0.isEmpty ? nil : $0 } ?? "_" }

    /// How many failures an envelope remembers.
    public static let errorHistory = 10

    public static func decode(_ bytes: [UInt8]) throws(JobFailure) -> JobEnvelope {
        do { return try JSONDecoder().decode(JobEnvelope.self, from: Data(bytes)) } catch {
            throw .poison("envelope is not a valid job: \(Self.describe(error))")
        }
    }

    /// A decoding error in words, with the path of the field (under `root`, e.g. `args.ms`).
    static func describe(_ error: Error, under root: String? = nil) -> String {
        func path(_ keys: [CodingKey]) -> String {
            let parts = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return ((root.map { [$0] } ?? []) + parts).joined(separator: ".")
        }
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return "missing field '\(path(ctx.codingPath + [key]))'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "wrong type at '\(path(ctx.codingPath))': \(ctx.debugDescription)"
        case DecodingError.dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? "not valid JSON" : "bad value at '\(path(ctx.codingPath))': \(ctx.debugDescription)"
        default:
            return "\(error)"
        }
    }
}

extension JobEnvelope {
    /// Everything about a job but its arguments and error history: what a worker needs to
    /// start it. Decoding only this on the hot path leaves the arguments to the handler's own
    /// type, decoded once.
    public struct Header: Decodable, Sendable, Equatable {
        public var id: String
        public var kind: String
        public var queue: String
        public var tenant: String?
        public var attempt: Int
        public var maxAttempts: Int
        public var enqueuedAt: Int64
        public var dueAt: Int64?
        public var trace: String?
        /// Deaths of a worker process while it held the job (see ``JobEnvelope/crashes``).
        public var crashes: Int?

        enum CodingKeys: String, CodingKey {
            case id, kind, queue, tenant, attempt, trace, crashes
            case maxAttempts = "max_attempts"
            case enqueuedAt = "enqueued_at"
            case dueAt = "due_at"
        }

        public static func decode(_ bytes: [UInt8]) throws(JobFailure) -> Header {
            try EnvelopeScanner.scan(bytes).header
        }
    }

    public var header: Header {
        Header(id: id, kind: kind, queue: queue, tenant: tenant, attempt: attempt, maxAttempts: maxAttempts,
               enqueuedAt: enqueuedAt, dueAt: dueAt, trace: trace, crashes: crashes)
    }
}

/// One failed attempt, kept in the envelope so dead letters carry their history.
public struct JobErrorRecord: Codable, Sendable, Equatable {
    public var attempt: Int
    public var at: Int64
    public var message: String

    public init(attempt: Int, at: Int64, message: String) {
        self.attempt = attempt
        self.at = at
        self.message = message
    }
}

/// Wall-clock milliseconds; one place so every part agrees on the unit.
public enum Clock {
    public static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
