import Logging

/// One request's log line: what the router's `RequestLogMiddleware` and the webhook fast path
/// record for every request. Headers and bodies are never part of it: they carry signatures,
/// tokens and customer data.
public struct RequestLogLine: Sendable {
    public var method: String
    /// The path without its query, at most 200 characters of it.
    public var path: String
    /// The route that answered (`/webhooks/{source}`), or `NotFound`.
    public var route: String
    public var status: Int
    public var elapsed: Duration
    /// The 32 hex digits of the request's W3C trace id.
    public var traceID: Substring
    /// The job the request created or found, if any.
    public var jobID: String?

    /// The line as `Logger` metadata (what a plain log handler is given).
    public var metadata: Logger.Metadata {
        // Sized for all seven fields up front: a line per request should not regrow a dictionary.
        var metadata = Logger.Metadata(minimumCapacity: 7)
        metadata["method"] = .string(method)
        metadata["path"] = .string(path)
        metadata["route"] = .string(route)
        metadata["status"] = .string(Self.statusText(status))
        metadata["duration_ms"] = .string(Self.milliseconds(elapsed))
        metadata["trace_id"] = .string(String(traceID))
        if let jobID { metadata["job_id"] = .string(jobID) }
        return metadata
    }

    /// The status as text, without formatting the common ones anew for every line.
    public static func statusText(_ status: Int) -> String {
        switch status {
        case 200: return "200"
        case 202: return "202"
        case 400: return "400"
        case 401: return "401"
        case 404: return "404"
        case 503: return "503"
        default: return String(status)
        }
    }

    /// `1.234` — milliseconds with three decimals, without going through `Double`'s description.
    public static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let micros = max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        let fraction = micros % 1000
        let padded = fraction < 10 ? "00\(fraction)" : fraction < 100 ? "0\(fraction)" : "\(fraction)"
        return "\(micros / 1000).\(padded)"
    }
}

/// Where request lines go: by default, an `info` line "request" on the ingress's `Logger` with
/// the fields as metadata. A process whose log handler can write that same line without a
/// metadata dictionary gives `writer` (the `cityos` executable does: its JSON handler renders
/// request lines directly, which at tens of thousands of requests a second is most of their cost).
public struct RequestLog: Sendable {
    /// Writes one line in the logger's format, as the logger would for `label` with that metadata.
    public typealias Writer = @Sendable (RequestLogLine, _ label: String) -> Void

    let logger: Logger
    let writer: Writer?

    public init(logger: Logger, writer: Writer? = nil) {
        self.logger = logger
        self.writer = writer
    }

    /// Whether lines are written at all (the logger's level lets `info` through).
    var isEnabled: Bool { logger.logLevel <= .info }

    func record(_ line: RequestLogLine) {
        guard isEnabled else { return }
        if let writer {
            writer(line, logger.label)
        } else {
            logger.info("request", metadata: line.metadata)
        }
    }
}
