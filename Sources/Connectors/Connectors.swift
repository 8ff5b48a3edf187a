import AsyncHTTPClient
import Config
import Logging
import Redis

/// Every connector, built from one configuration, sharing one HTTP client and one Redis rate
/// limit. Create it once per process; `shutdown()` when the process stops.
public final class Connectors: Sendable {
    public let stripe: StripeConnector
    public let medusa: MedusaConnector
    public let payload: PayloadConnector
    public let fleetbase: FleetbaseConnector
    public let erpnext: ERPNextConnector
    private let http: HTTPClient

    /// - Parameters:
    ///   - redis: where the per-service rate limit is shared; `nil` leaves calls unlimited.
    ///   - namespace: the Redis key prefix (`redis.namespace`).
    public init(config: CityOSConfig, redis: RedisClient?, namespace: String, logger: Logger) {
        let http = Self.makeHTTPClient()
        let rateLimit = redis.map { SharedRateLimit(redis: $0, namespace: namespace) }
        func client(_ service: Service, _ errors: ServiceErrorReader) -> ServiceClient {
            var logger = logger
            logger[metadataKey: "service"] = "\(service)"
            return ServiceClient(configuration: .from(config, service: service), http: http, rateLimit: rateLimit,
                                 errors: errors, logger: logger)
        }
        self.http = http
        stripe = StripeConnector(client: client(.stripe, StripeErrors.reader))
        medusa = MedusaConnector(client: client(.medusa, MedusaConnector.errors))
        payload = PayloadConnector(client: client(.payload, PayloadConnector.errors))
        fleetbase = FleetbaseConnector(client: client(.fleetbase, FleetbaseConnector.errors))
        erpnext = ERPNextConnector(client: client(.erpnext, ERPNextConnector.errors))
    }

    /// One connector's client with its own configuration (tests, tools), on the shared HTTP client.
    public func client(_ configuration: ServiceConfiguration, rateLimit: SharedRateLimit?, logger: Logger) -> ServiceClient {
        ServiceClient(configuration: configuration, http: http, rateLimit: rateLimit,
                      errors: Self.errorReader(configuration.service), logger: logger)
    }

    /// The error reader for a service's error shape.
    public static func errorReader(_ service: Service) -> ServiceErrorReader {
        switch service {
        case .stripe: return StripeErrors.reader
        case .medusa: return MedusaConnector.errors
        case .payload: return PayloadConnector.errors
        case .fleetbase: return FleetbaseConnector.errors
        case .erpnext: return ERPNextConnector.errors
        }
    }

    /// The HTTP client every connector shares: connection failures fail at once (the transport
    /// retries them itself, counted), and no redirects are followed.
    public static func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(5))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the HTTP client's connections.
    public func shutdown() async {
        try? await http.shutdown()
    }
}
