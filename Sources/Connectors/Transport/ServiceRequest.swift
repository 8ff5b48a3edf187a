import Foundation

/// One call to a service, before the transport adds the base URL, credentials and headers.
public struct ServiceRequest: Sendable {
    public enum Method: String, Sendable { case get = "GET", post = "POST", put = "PUT", patch = "PATCH", delete = "DELETE" }

    public enum Body: Sendable {
        case none
        /// `application/x-www-form-urlencoded` (Stripe).
        case form(FormParameters)
        /// `application/json`, already encoded.
        case json(Data)
    }

    public var method: Method
    /// The path under the base URL, each segment already percent-encoded (`/v1/payment_intents`).
    public var path: String
    /// Query parameters, encoded by the transport.
    public var query: [(String, String)]
    public var body: Body
    /// Sent as `Idempotency-Key`: the service answers a repeat with the first answer (Stripe).
    public var idempotencyKey: String?
    /// Whether sending the request twice has the effect of sending it once, so the transport may
    /// resend it after an ambiguous failure (timeout, lost connection, 5xx). GET, PUT, PATCH and
    /// DELETE are; a POST is when it carries an idempotency key or the caller says so.
    public var isIdempotent: Bool
    /// How the call is named in logs and errors: `POST /v1/payment_intents` (no ids, no values).
    public var endpoint: String

    public init(_ method: Method, _ path: String, endpoint: String? = nil, query: [(String, String)] = [],
                body: Body = .none, idempotencyKey: String? = nil, idempotent: Bool? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.idempotencyKey = idempotencyKey
        self.isIdempotent = idempotent ?? (method != .post || idempotencyKey != nil)
        self.endpoint = endpoint ?? "\(method.rawValue) \(path)"
    }

    /// Percent-encodes one path segment (an id may hold `/` or spaces: `Sales Invoice`).
    public static func segment(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: FormParameters.unreserved) ?? value
    }
}

/// What the service answered.
public struct ServiceResponse: Sendable {
    public var status: Int
    /// Header names lower-cased.
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var isSuccess: Bool { (200..<300).contains(status) }

    /// `Retry-After` in seconds (the form services use for 429 and 503), if present and sensible.
    public var retryAfter: Duration? {
        guard let text = headers["retry-after"]?.trimmingCharacters(in: .whitespaces),
              let seconds = Double(text), seconds >= 0, seconds < 86_400 else { return nil }
        return .milliseconds(Int(seconds * 1000))
    }
}
