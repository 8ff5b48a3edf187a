import Foundation
import Hummingbird
import Redis

/// Every answer the ingress gives to a request it does not accept: an HTTP status and the JSON
/// body `{"error": {"code": …, "message": …}}`. A client's mistake is a 4xx; 5xx means the
/// platform could not do its part (Redis unreachable, a secret not configured).
public struct APIError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    /// A stable machine-readable code, e.g. `bad_signature`.
    public let code: String
    /// What went wrong and what to do, for a person.
    public let message: String
    /// Seconds after which a retry may succeed (sent as `Retry-After`).
    public var retryAfter: Int?
    /// The methods the path takes (sent as `Allow` with a 405).
    var allowed: [String]?

    public init(_ status: HTTPResponse.Status, code: String, message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = "\(retryAfter)" }
        if let allowed { headers[.allow] = allowed.joined(separator: ", ") }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: jsonBody)))
    }

    /// The JSON body, built by hand so that writing an error cannot itself fail.
    var jsonBody: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + message.utf8.count)
        out.append(contentsOf: #"{"error":{"code":"#.utf8)
        JSONText.appendString(code, to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        JSONText.appendString(message, to: &out)
        out.append(contentsOf: "}}".utf8)
        return out
    }
}

extension APIError {
    // 400
    static func badSignature(_ why: String) -> APIError {
        APIError(.badRequest, code: "bad_signature", message: why)
    }
    static func staleTimestamp(_ why: String) -> APIError {
        APIError(.badRequest, code: "stale_timestamp", message: why)
    }
    static func malformedJSON(_ why: String) -> APIError {
        APIError(.badRequest, code: "malformed_json", message: why)
    }
    static func badRequest(_ why: String) -> APIError {
        APIError(.badRequest, code: "bad_request", message: why)
    }
    static func missingField(_ why: String) -> APIError {
        APIError(.badRequest, code: "missing_field", message: why)
    }
    // 401
    static let unauthorized = APIError(.unauthorized, code: "unauthorized",
                                       message: "send Authorization: Bearer <CITYOS_OPS_TOKEN>")
    // 404
    static func notFound(_ what: String) -> APIError { APIError(.notFound, code: "not_found", message: what) }
    static func unknownSource(_ source: String) -> APIError {
        APIError(.notFound, code: "unknown_source",
                 message: "no webhook source '\(source.prefix(64))'; known: \(WebhookSource.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    // 405
    static func methodNotAllowed(_ why: String, allowed: [String]) -> APIError {
        var error = APIError(.methodNotAllowed, code: "method_not_allowed", message: why)
        error.allowed = allowed
        return error
    }
    // 409
    static func conflict(_ why: String) -> APIError { APIError(.conflict, code: "conflict", message: why) }
    // 413
    static func bodyTooLarge(limit: Int) -> APIError {
        APIError(.contentTooLarge, code: "body_too_large", message: "the body is larger than \(limit) bytes")
    }
    // 422
    static func unprocessable(_ why: String) -> APIError {
        APIError(.unprocessableContent, code: "unprocessable", message: why)
    }
    // 503
    /// Redis did not answer, or refused. It never says "nothing was stored": after a timeout or a
    /// connection lost with the command sent a job may be stored, and a webhook's first try on its
    /// loop may have been before the router's try failed. What is always true: the same request
    /// again (the same `idempotency_key`, a webhook's same event id) is stored once, where a new
    /// one would be a second job.
    static func redisUnavailable(_ error: RedisError) -> APIError {
        let again = "try again with the same request (the same idempotency_key; a webhook's event id does this for it), "
            + "which is stored once"
        let message: String
        switch error {
        case .connectionRefused, .invalidURL:
            message = "the queue store is unreachable; " + again
        case .server(let reply):
            let word = reply.split(separator: " ").first.map(String.init) ?? "an error"
            message = "the queue store refused the request (\(word)); " + again
        case .timeout, .connectionClosed, .protocolError, .unexpectedReply:
            message = "the queue store did not answer in time, so a request that writes may or may not have been stored; " + again
        }
        return APIError(.serviceUnavailable, code: "unavailable", message: message, retryAfter: 5)
    }
    static func storeUnavailable(_ what: String) -> APIError {
        APIError(.serviceUnavailable, code: "unavailable",
                 message: "\(what) could not be read from PostgreSQL (unreachable or failing); try again", retryAfter: 5)
    }
    static func notConfigured(_ what: String) -> APIError {
        APIError(.serviceUnavailable, code: "not_configured", message: what, retryAfter: 60)
    }
}
