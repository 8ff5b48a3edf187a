import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// The one way connectors reach a service: base URL and credentials from configuration, the
/// shared rate limit before every exchange, a timeout on every exchange, and bounded retries of
/// transient failures (connect errors, 429 with its `Retry-After`, 5xx) within one call.
///
/// A request is resent only when that is safe: always when it never reached the service (connect
/// error, 429), and after an ambiguous failure (timeout, lost connection, 5xx) only when it is
/// idempotent (`ServiceRequest.isIdempotent`: reads, and POSTs with an idempotency key).
public struct ServiceClient: Sendable {
    public let configuration: ServiceConfiguration
    let http: HTTPClient
    let rateLimit: SharedRateLimit?
    let errors: ServiceErrorReader
    let logger: Logger

    /// - Parameters:
    ///   - http: shared by every connector; its owner shuts it down.
    ///   - rateLimit: where the per-service limit is kept; `nil` = no limit (tests, tools).
    ///   - errors: reads the service's error bodies into `ConnectorError`.
    public init(configuration: ServiceConfiguration, http: HTTPClient, rateLimit: SharedRateLimit?,
                errors: ServiceErrorReader, logger: Logger) {
        self.configuration = configuration
        self.http = http
        self.rateLimit = rateLimit
        self.errors = errors
        self.logger = logger
    }

    public var service: Service { configuration.service }

    /// Sends `request`, retrying what can be retried, and returns the service's 2xx answer.
    /// - Throws: `ConnectorError` for every other outcome, after the retries this call allows.
    public func send(_ request: ServiceRequest) async throws(ConnectorError) -> ServiceResponse {
        let credential = try configuration.authorization.get()
        let retry = RetrySchedule(maxRetries: configuration.maxRetries, maxWait: configuration.maxRetryWait)
        var attempt = 0
        while true {
            let failure: ConnectorError
            do {
                return try await exchange(request, credential: credential)
            } catch {
                failure = error
            }
            let resendable = failure.isRetryable && (request.isIdempotent || !failure.mayHaveTakenEffect)
            guard resendable, let wait = retry.wait(after: attempt, for: failure) else {
                logger.warning("outside call failed", metadata: metadata(request, attempt: attempt, error: failure))
                throw failure
            }
            logger.info("outside call will be retried", metadata: metadata(request, attempt: attempt, error: failure)
                            .merging(["wait_ms": "\(wait.milliseconds)"]) { $1 })
            do { try await Task.sleep(for: wait) } catch { throw failure }
            attempt += 1
        }
    }

    /// Sends `request` and decodes the 2xx answer's JSON body as `T`.
    public func send<T: Decodable>(_ request: ServiceRequest, decoding type: T.Type) async throws(ConnectorError) -> T {
        let response = try await send(request)
        return try decode(type, from: response)
    }

    func decode<T: Decodable>(_ type: T.Type, from response: ServiceResponse) throws(ConnectorError) -> T {
        do {
            return try JSONDecoder().decode(type, from: response.body)
        } catch {
            throw .unexpectedResponse(service: service, status: response.status, reason: Self.describe(error))
        }
    }

    /// One exchange: rate limit, send, read the whole answer within the timeout.
    private func exchange(_ request: ServiceRequest, credential: Credential) async throws(ConnectorError) -> ServiceResponse {
        if let rateLimit {
            try await rateLimit.acquire(service, limit: configuration.rateLimit, maxWait: configuration.rateLimitWait)
        }
        let httpRequest = try makeHTTPRequest(request, credential: credential)
        let response = try await HTTPExchange.run(httpRequest, on: http, timeout: configuration.requestTimeout,
                                                  service: service)
        if response.isSuccess { return response }
        throw errors.read(response, service)
    }

    private func makeHTTPRequest(_ request: ServiceRequest, credential: Credential) throws(ConnectorError) -> HTTPClientRequest {
        var url = configuration.baseURL + request.path
        if !request.query.isEmpty {
            url += "?" + request.query.map { FormParameters.escape($0.0) + "=" + FormParameters.escape($0.1) }
                .joined(separator: "&")
        }
        var http = HTTPClientRequest(url: url)
        http.method = .init(rawValue: request.method.rawValue)
        http.headers.add(name: "Authorization", value: credential.headerValue)
        http.headers.add(name: "Accept", value: "application/json")
        http.headers.add(name: "User-Agent", value: "cityos-workers")
        if let key = request.idempotencyKey {
            guard !key.isEmpty, key.utf8.count <= 255 else {
                throw .invalidRequest(service: service, message: "an idempotency key must be 1-255 characters")
            }
            http.headers.add(name: "Idempotency-Key", value: key)
        }
        switch request.body {
        case .none:
            break
        case .form(let form):
            http.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            http.body = .bytes(ByteBuffer(string: form.encoded))
        case .json(let data):
            http.headers.add(name: "Content-Type", value: "application/json")
            http.body = .bytes(ByteBuffer(bytes: data))
        }
        return http
    }

    /// Log fields of a call: never its credentials, body or query values.
    private func metadata(_ request: ServiceRequest, attempt: Int, error: ConnectorError) -> Logger.Metadata {
        ["service": "\(service)", "endpoint": "\(request.endpoint)", "attempt": "\(attempt + 1)",
         "error": "\(error)"]
    }

    static func describe(_ error: any Error) -> String {
        if let decoding = error as? DecodingError {
            switch decoding {
            case .keyNotFound(let key, let context):
                return "missing '\(key.stringValue)' at \(path(context))"
            case .typeMismatch(_, let context), .valueNotFound(_, let context):
                return "\(context.debugDescription) at \(path(context))"
            case .dataCorrupted(let context):
                return "\(context.debugDescription) at \(path(context))"
            @unknown default:
                return "\(decoding)"
            }
        }
        return "\(error)"
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        return path.isEmpty ? "the top level" : path
    }
}

extension Duration {
    var milliseconds: Int { Int(components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000) }
}
