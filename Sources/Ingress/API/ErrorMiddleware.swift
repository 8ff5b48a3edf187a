import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Queue
import Redis

/// Turns every error a handler throws into a JSON error answer (`APIError`), so a client sees
/// `{"error": {"code", "message"}}` with a fitting status, never an empty 500 for its own mistake.
/// A path the server knows, asked with a method it does not take there, is answered 405 with
/// `Allow`; a path it does not know, 404.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = IngressContext
    let routes: RouteTable

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var apiError = Self.apiError(for: error, logger: context.logger)
            if apiError.status == .notFound, context.endpointPath == "NotFound" {
                let allowed = routes.methods(for: Substring(request.uri.path))
                let path = request.uri.path.prefix(200)
                if allowed.isEmpty {
                    apiError = .notFound("no endpoint \(request.method) \(path); see /openapi.yaml")
                } else {
                    apiError = .methodNotAllowed("\(path) takes \(allowed.joined(separator: ", ")), not \(request.method); see /openapi.yaml",
                                                 allowed: allowed)
                }
            }
            return try apiError.response(from: request, context: context)
        }
    }

    static func apiError(for error: any Error, logger: Logger) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case is NIOTooManyBytesError:
            return .bodyTooLarge(limit: IngressConfiguration.maxBodyBytes)
        case let error as HTTPParserError:
            // The body was not valid HTTP/1.1 (a bad chunk size, a body cut short): the decoder
            // ends the body's stream with its error while the handler reads it. The client's
            // mistake, answered as between requests, never a 500.
            logger.debug("request body is not valid HTTP/1.1", metadata: ["error": "\(error.debugDescription)"])
            return ProtocolErrorAnswer.answer(to: error)
        case let error as RedisError:
            if case .unexpectedReply = error {
                logger.error("unexpected answer from Redis", metadata: ["error": "\(error)"])
                return APIError(.internalServerError, code: "internal", message: "unexpected answer from the queue store")
            }
            logger.warning("Redis unavailable", metadata: ["error": "\(error)"])
            return .redisUnavailable(error)
        case let error as JobFailure:
            switch error {
            case .unknownKind, .badArguments: return .unprocessable(error.description)
            default: return .badRequest(error.description)
            }
        case let error as any OpsRefusal:
            switch error.refusal {
            case .notFound: return .notFound(error.description)
            case .conflict: return .conflict(error.description)
            case .invalid: return .badRequest(error.description)
            }
        case let error as HTTPError:
            return APIError(error.status, code: code(for: error.status), message: error.body ?? error.status.reasonPhrase)
        case let error as any HTTPResponseError:
            return APIError(error.status, code: code(for: error.status), message: error.status.reasonPhrase)
        default:
            logger.error("request failed", metadata: ["error": "\(error)"])
            return APIError(.internalServerError, code: "internal", message: "internal error; see the server's log")
        }
    }

    private static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: return "bad_request"
        case 401: return "unauthorized"
        case 404: return "not_found"
        case 405: return "method_not_allowed"
        case 413: return "body_too_large"
        case 422: return "unprocessable"
        case 503: return "unavailable"
        default: return status.code < 500 ? "bad_request" : "internal"
        }
    }
}
