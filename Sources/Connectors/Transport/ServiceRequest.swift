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

    /// `Retry-After`: seconds (the form services use for 429 and 503) or an HTTP date (RFC 9110
    /// 10.2.3), at most ``longestRetryAfter``; nil when absent or unreadable. A long wait is kept,
    /// not dropped: dropped, it read as "no hint" and the call was retried at once, then its job.
    public var retryAfter: Duration? {
        guard let text = headers["retry-after"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        let seconds: Double
        if let number = Double(text) {
            guard number.isFinite, number >= 0 else { return nil }
            seconds = number
        } else if let date = Self.httpDate(text) {
            seconds = max(0, date.timeIntervalSinceNow)
        } else {
            return nil
        }
        return .milliseconds(Int64((min(seconds, Self.longestRetryAfter) * 1000).rounded(.up)))
    }

    /// The longest `Retry-After` taken as given (a week); a longer one is read as this.
    public static let longestRetryAfter: Double = 604_800

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the HTTP date form senders must use.
    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.date(from: text)
    }
}
