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
        metrics.countRequest(route: route, method: request.method.rawValue, status: Int(response.status.code), duration: elapsed)
        if enabled, logger.logLevel <= .info {
            var metadata: Logger.Metadata = [
                "method": .string(request.method.rawValue),
                "path": .string(String(request.uri.path.prefix(200))),
                "route": .string(route),
                "status": .string(String(response.status.code)),
                "duration_ms": .string(Self.milliseconds(elapsed)),
                "trace_id": .string(String(trace.traceID)),
            ]
            if let jobID = response.headers[.cityOSJobID] { metadata["job_id"] = .string(jobID) }
            logger.info("request", metadata: metadata)
        }
        return response
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
