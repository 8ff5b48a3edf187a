import HTTPTypes
import Hummingbird
import Logging

/// The outermost middleware: gives each request its trace, then writes one structured log line
/// per request (`RequestLogLine`: method, route, status, duration, job id, trace id) and counts
/// it in the metrics. Headers and bodies are never logged: they carry signatures, tokens and
/// customer data.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = IngressContext
    let metrics: IngressMetrics
    let logger: Logger
    /// Where the lines go; nil when request lines are off.
    let requestLog: RequestLog?

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
        let status = Int(response.status.code)
        metrics.countRequest(route: route, method: request.method.rawValue, status: status, duration: elapsed)
        let path = request.uri.path
        requestLog?.record(RequestLogLine(method: request.method.rawValue,
                                          path: path.utf8.count <= 200 ? path : String(path.prefix(200)),
                                          route: route, status: status, elapsed: elapsed, traceID: trace.traceID,
                                          jobID: response.headers[.cityOSJobID]))
        return response
    }
}
