import Config
import Foundation

/// How one service is reached: where, with which credentials, how long a call may take, how
/// often a transient failure is retried, and how many calls per second all processes share.
public struct ServiceConfiguration: Sendable {
    public var service: Service
    /// The base URL, without a trailing slash (`https://api.stripe.com`, `http://127.0.0.1:8090/stripe`).
    public var baseURL: String
    /// The `Authorization` header value, or why there is none (a missing setting).
    public var authorization: Result<Credential, ConnectorError>
    /// Timeout of one HTTP exchange (request sent, whole answer read).
    public var requestTimeout: Duration
    /// Transient failures retried within one call (so at most `maxRetries + 1` exchanges).
    public var maxRetries: Int
    /// The longest wait between tries; a longer `Retry-After` fails the call at once
    /// (`rateLimited` for a 429, `unavailable` for a 503), for the job's own retry.
    public var maxRetryWait: Duration
    /// Calls per second across every process sharing the Redis; 0 = no limit.
    public var rateLimit: Int
    /// The longest a call waits for the shared rate limit before failing as `rateLimited`.
    public var rateLimitWait: Duration

    public init(service: Service, baseURL: String, authorization: Result<Credential, ConnectorError>,
                requestTimeout: Duration = .seconds(10), maxRetries: Int = 3, maxRetryWait: Duration = .seconds(10),
                rateLimit: Int = 0, rateLimitWait: Duration = .seconds(10)) {
        self.service = service
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.authorization = authorization
        self.requestTimeout = requestTimeout
        self.maxRetries = max(0, maxRetries)
        self.maxRetryWait = maxRetryWait
        self.rateLimit = max(0, rateLimit)
        self.rateLimitWait = rateLimitWait
    }

    /// Reads `<service>.url` (default: `sandbox.url` + `/<service>`), the service's credentials,
    /// `<service>.rate_limit` and the `connectors.*` timeouts from the platform's configuration.
    public static func from(_ config: CityOSConfig, service: Service) -> ServiceConfiguration {
        let base = config.string("\(service.rawValue).url") ?? config.sandboxURL + service.sandboxPath
        return ServiceConfiguration(
            service: service, baseURL: base, authorization: Credential.from(config, service: service),
            requestTimeout: .seconds(config.double("connectors.timeout_seconds") ?? 10),
            maxRetries: config.int("connectors.max_retries") ?? 3,
            maxRetryWait: .seconds(config.double("connectors.max_retry_wait_seconds") ?? 10),
            rateLimit: config.int("\(service.rawValue).rate_limit") ?? 0,
            rateLimitWait: .seconds(config.double("connectors.rate_limit_wait_seconds") ?? 10))
    }
}

/// An `Authorization` header value. Its description never shows the secret.
public struct Credential: Sendable, CustomStringConvertible {
    /// The header value, e.g. `Bearer sk_test_…`. Never log it.
    public let headerValue: String

    public init(headerValue: String) { self.headerValue = headerValue }

    public var description: String { "Credential(****)" }

    /// `Authorization: Bearer sk_…` — Stripe's secret key.
    public static func stripe(secretKey: String) -> Credential { Credential(headerValue: "Bearer \(secretKey)") }
    /// `Authorization: Basic base64("sk_…:")` — a Medusa secret API key as the user, no password.
    public static func medusa(apiKey: String) -> Credential {
        Credential(headerValue: "Basic " + Data("\(apiKey):".utf8).base64EncodedString())
    }
    /// `Authorization: <collection> API-Key <key>` — a Payload API key of an auth-enabled collection.
    public static func payload(collection: String, apiKey: String) -> Credential {
        Credential(headerValue: "\(collection) API-Key \(apiKey)")
    }
    /// `Authorization: Bearer flb_…` — a Fleetbase API key.
    public static func fleetbase(apiKey: String) -> Credential { Credential(headerValue: "Bearer \(apiKey)") }
    /// `Authorization: token <key>:<secret>` — a Frappe / ERPNext API key pair.
    public static func erpnext(apiKey: String, apiSecret: String) -> Credential {
        Credential(headerValue: "token \(apiKey):\(apiSecret)")
    }

    /// The service's credential from configuration (environment only), or which setting is missing.
    static func from(_ config: CityOSConfig, service: Service) -> Result<Credential, ConnectorError> {
        func need(_ key: String) -> Result<String, ConnectorError> {
            if let value = config.string(key) { return .success(value) }
            let variable = "CITYOS_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
            return .failure(.notConfigured(service: service, setting: "\(key) (\(variable))"))
        }
        switch service {
        case .stripe: return need("stripe.secret_key").map(Credential.stripe(secretKey:))
        case .medusa: return need("medusa.api_key").map(Credential.medusa(apiKey:))
        case .payload:
            let collection = config.string("payload.api_key_collection") ?? "users"
            return need("payload.api_key").map { Credential.payload(collection: collection, apiKey: $0) }
        case .fleetbase: return need("fleetbase.api_key").map(Credential.fleetbase(apiKey:))
        case .erpnext:
            return need("erpnext.api_key").flatMap { key in
                need("erpnext.api_secret").map { Credential.erpnext(apiKey: key, apiSecret: $0) }
            }
        }
    }
}
