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
                "method": "\(request.method.rawValue)",
                "path": "\(request.uri.path.prefix(200))",
                "route": "\(route)",
                "status": "\(response.status.code)",
                "duration_ms": "\(Double(elapsed.components.attoseconds / 1_000_000_000_000) / 1000 + Double(elapsed.components.seconds) * 1000)",
                "trace_id": "\(trace.traceID)",
            ]
            if let jobID = response.headers[.cityOSJobID] { metadata["job_id"] = "\(jobID)" }
            logger.info("request", metadata: metadata)
        }
        return response
    }
}
