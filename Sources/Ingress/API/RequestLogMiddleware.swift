import HTTPTypes
import Hummingbird
import Logging

/// The outermost middleware: gives each request its trace, then writes one structured log line
/// per request (method, route, status, duration, job id, trace id) and counts it in the metrics.
/// Headers and bodies are never logged: they carry signatures, tokens and customer data.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = IngressContext
    let metrics: IngressMetrics
    let logger: Logger
    let enabled: Bool

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        let trace = Trace(headers: request.headers)
        context.trace = trace
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // ErrorMiddleware answers every error; this is the last line of defence.
            response = try ErrorMiddleware.apiError(for: error, logger: logger).response(from: request, context: context)
        }
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "NotFound"
        Self.record(method: request.method.rawValue, path: request.uri.path, route: route,
                    status: Int(response.status.code), elapsed: elapsed, traceID: trace.traceID,
                    jobID: response.headers[.cityOSJobID], metrics: metrics, logger: enabled ? logger : nil)
        return response
    }

    /// Counts a request in the metrics and writes its log line (without a logger, only counts).
    static func record(method: String, path: String, route: String, status: Int, elapsed: Duration,
                       traceID: Substring, jobID: String?, metrics: IngressMetrics, logger: Logger?) {
        metrics.countRequest(route: route, method: method, status: status, duration: elapsed)
        log(method: method, path: path, route: route, status: status, elapsed: elapsed, traceID: traceID,
            jobID: jobID, logger: logger)
    }

    /// Writes a request's log line. Shared with `WebhookFastPath`, which answers webhooks
    /// without passing through here (and counts them itself).
    static func log(method: String, path: String, route: String, status: Int, elapsed: Duration,
                    traceID: Substring, jobID: String?, logger: Logger?) {
        guard let logger, logger.logLevel <= .info else { return }
        // Sized for all seven fields up front: a line per request should not regrow a dictionary.
        var metadata = Logger.Metadata(minimumCapacity: 7)
        metadata["method"] = .string(method)
        metadata["path"] = .string(path.utf8.count <= 200 ? path : String(path.prefix(200)))
        metadata["route"] = .string(route)
        metadata["status"] = .string(statusText(status))
        metadata["duration_ms"] = .string(milliseconds(elapsed))
        metadata["trace_id"] = .string(String(traceID))
        if let jobID { metadata["job_id"] = .string(jobID) }
        logger.info("request", metadata: metadata)
    }

    /// The status as text, without formatting the common ones anew for every line.
    static func statusText(_ status: Int) -> String {
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
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let micros = max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        let fraction = micros % 1000
        let padded = fraction < 10 ? "00\(fraction)" : fraction < 100 ? "0\(fraction)" : "\(fraction)"
        return "\(micros / 1000).\(padded)"
    }
}
