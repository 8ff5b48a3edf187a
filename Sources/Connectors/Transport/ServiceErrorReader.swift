import Foundation

/// Turns a service's non-2xx answer into a `ConnectorError`. Each connector gives the message
/// and code found in its service's own error shape; the status decides what kind of failure it is.
public struct ServiceErrorReader: Sendable {
    /// The message and code the service's error body carries (`nil` when it has none).
    public typealias Details = @Sendable (ServiceResponse) -> (message: String?, code: String?)

    private let read: @Sendable (ServiceResponse, Service) -> ConnectorError

    /// A reader with a service-specific rule first; `nil` from it falls back to the status rules.
    public init(details: @escaping Details,
                special: @escaping @Sendable (ServiceResponse, Service) -> ConnectorError? = { _, _ in nil }) {
        read = { response, service in
            if let error = special(response, service) { return error }
            let found = details(response)
            return Self.byStatus(response, service: service, message: found.message, code: found.code)
        }
    }

    public func read(_ response: ServiceResponse, _ service: Service) -> ConnectorError { read(response, service) }

    /// The rules every service shares: 401/403 credentials, 404 missing, 409 and 5xx transient,
    /// 429 rate limited, other 4xx rejected; a `Retry-After` on 429, 503 (or any transient status)
    /// is kept on the error, and the transport waits that long before trying again.
    public static func byStatus(_ response: ServiceResponse, service: Service, message: String?, code: String?) -> ConnectorError {
        let text = message ?? "HTTP \(response.status)"
        switch response.status {
        case 401, 403: return .unauthorized(service: service, status: response.status, message: text)
        case 404: return .notFound(service: service, message: text)
        case 408, 409, 425:
            return .unavailable(service: service, status: response.status, message: text, retryAfter: response.retryAfter)
        case 429: return .rateLimited(service: service, retryAfter: response.retryAfter)
        case 400..<500: return .rejected(service: service, status: response.status, code: code, message: text)
        case 500..<600:
            return .unavailable(service: service, status: response.status, message: text, retryAfter: response.retryAfter)
        default:
            return .unexpectedResponse(service: service, status: response.status, reason: "unexpected status: \(text)")
        }
    }

    /// The body as a JSON object, when it is one.
    public static func object(_ response: ServiceResponse) -> JSON? {
        guard let value = try? JSONDecoder().decode(JSON.self, from: response.body),
              case .object = value else { return nil }
        return value
    }
}
