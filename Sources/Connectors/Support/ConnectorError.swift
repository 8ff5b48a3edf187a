/// What went wrong calling an outside service, and whether trying again can help.
///
/// `isRetryable` says whether a later attempt may succeed; `mayHaveTakenEffect` says whether the
/// service may have applied the request although the call failed (a timeout after sending, a
/// lost connection, a 5xx): a request without an idempotency key must then be checked (e.g. find
/// by an external id) before it is sent again. The transport already retried what it safely could
/// within the call; what reaches the caller is for the job's own retry policy to weigh.
public enum ConnectorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The card was declined (Stripe 402 `card_error`). A retry cannot help until the customer
    /// acts; a dunning schedule may try again later with a new PaymentIntent.
    case declined(service: Service, code: String, declineCode: String?, message: String, paymentIntentID: String?)
    /// The service refused the request as invalid (4xx): the request must change; not retryable.
    case rejected(service: Service, status: Int, code: String?, message: String)
    /// The request was refused before it was sent (bad argument, e.g. an empty idempotency key).
    case invalidRequest(service: Service, message: String)
    /// The idempotency key was used before with different parameters: a bug, not retryable.
    case idempotencyMismatch(service: Service, message: String)
    /// The credentials are missing, wrong or not allowed (401/403): fix the configuration.
    case unauthorized(service: Service, status: Int, message: String)
    /// The entity does not exist (404).
    case notFound(service: Service, message: String)
    /// Too many requests: the service's 429, or the platform's shared rate limit still busy after
    /// waiting. Retry after `retryAfter` (when known).
    case rateLimited(service: Service, retryAfter: Duration?)
    /// The service failed (5xx) or another request with the same key is still running (409).
    /// Retry after `retryAfter` when the service said when (`Retry-After`, usual with 503).
    case unavailable(service: Service, status: Int, message: String, retryAfter: Duration? = nil)
    /// No connection could be made (refused, unknown host): the request was never sent.
    case unreachable(service: Service, reason: String)
    /// No complete answer within the timeout: the request may have taken effect.
    case timedOut(service: Service, seconds: Double)
    /// The connection broke after the request was sent: the request may have taken effect.
    case connectionLost(service: Service, reason: String)
    /// The answer could not be read (not JSON, missing fields, an amount finer than the currency),
    /// or, for Stripe, a 4xx came without Stripe's error object (a proxy, a wrong URL): it says
    /// nothing of what the service did with the request.
    case unexpectedResponse(service: Service, status: Int, reason: String)
    /// A setting the call needs is missing (a credential, usually).
    case notConfigured(service: Service, setting: String)
    /// The shared rate limit could not be consulted (Redis unreachable); nothing was sent.
    case rateLimiterUnavailable(service: Service, reason: String)

    /// The service the failed call was for.
    public var service: Service {
        switch self {
        case .declined(let service, _, _, _, _), .rejected(let service, _, _, _), .invalidRequest(let service, _),
             .idempotencyMismatch(let service, _), .unauthorized(let service, _, _), .notFound(let service, _),
             .rateLimited(let service, _), .unavailable(let service, _, _, _), .unreachable(let service, _),
             .timedOut(let service, _), .connectionLost(let service, _), .unexpectedResponse(let service, _, _),
             .notConfigured(let service, _), .rateLimiterUnavailable(let service, _):
            return service
        }
    }

    /// Whether the service read this request and refused it as such (declined, invalid, not found),
    /// or it was never sent (`invalidRequest`): nothing came of it, and the refusal is about this
    /// request alone. Not a refusal of the credentials or the configuration (about every request,
    /// and given before an idempotency key is read, so it says nothing of an earlier send under
    /// it), nor anything that may pass or may have taken effect.
    public var refusesThisRequest: Bool {
        switch self {
        case .declined, .rejected, .invalidRequest, .notFound: return true
        default: return false
        }
    }

    /// Whether a later attempt of the same request may succeed.
    public var isRetryable: Bool {
        switch self {
        case .rateLimited, .unavailable, .unreachable, .timedOut, .connectionLost, .rateLimiterUnavailable:
            return true
        case .declined, .rejected, .invalidRequest, .idempotencyMismatch, .unauthorized, .notFound,
             .unexpectedResponse, .notConfigured:
            return false
        }
    }

    /// Whether the service may have applied the request although the call failed.
    public var mayHaveTakenEffect: Bool {
        switch self {
        case .timedOut, .connectionLost, .unavailable, .unexpectedResponse: return true
        default: return false
        }
    }

    /// How long to wait before trying again, when the service said so (`Retry-After`).
    public var retryAfter: Duration? {
        switch self {
        case .rateLimited(_, let after), .unavailable(_, _, _, let after): return after
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .declined(let service, let code, let declineCode, let message, let intent):
            return "\(service): card declined (\(code)\(declineCode.map { ", \($0)" } ?? ""))"
                + "\(intent.map { " for \($0)" } ?? ""): \(message); not retryable"
        case .rejected(let service, let status, let code, let message):
            return "\(service) rejected the request (\(status)\(code.map { " \($0)" } ?? "")): \(message); not retryable"
        case .invalidRequest(let service, let message):
            return "\(service) request not sent: \(message)"
        case .idempotencyMismatch(let service, let message):
            return "\(service): idempotency key reused with different parameters: \(message)"
        case .unauthorized(let service, let status, let message):
            return "\(service) refused the credentials (\(status)): \(message); check the \(service) settings"
        case .notFound(let service, let message):
            return "\(service): not found: \(message)"
        case .rateLimited(let service, let after):
            return "\(service): rate limited\(after.map { "; retry after \($0)" } ?? "")"
        case .unavailable(let service, let status, let message, let after):
            return "\(service) failed (\(status)): \(message); retryable\(after.map { " after \($0)" } ?? "")"
        case .unreachable(let service, let reason):
            return "\(service) unreachable: \(reason); retryable"
        case .timedOut(let service, let seconds):
            return "\(service) did not answer within \(seconds)s; the request may have taken effect"
        case .connectionLost(let service, let reason):
            return "\(service): connection lost after sending (\(reason)); the request may have taken effect"
        case .unexpectedResponse(let service, let status, let reason):
            return "\(service): unreadable answer (\(status)): \(reason)"
        case .notConfigured(let service, let setting):
            return "\(service) is not configured: set \(setting)"
        case .rateLimiterUnavailable(let service, let reason):
            return "\(service): the shared rate limit could not be checked (\(reason)); nothing was sent"
        }
    }
}
