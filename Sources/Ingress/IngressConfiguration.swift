import Config

/// How the ingress listens and what it trusts. Plain values with defaults; `init(config:)`
/// takes them from the platform's configuration (secrets from the environment only).
public struct IngressConfiguration: Sendable {
    /// Bodies larger than this are refused with 413.
    public static let maxBodyBytes = 1 << 20

    public var host: String
    /// 0 picks a free port (tests); `IngressServer.listeningPort()` tells which.
    public var port: Int
    /// Prefix of every Redis key (`redis.namespace`).
    public var namespace: String
    /// The bearer token of `/v1/*`; without one those endpoints answer 503 `not_configured`.
    public var opsToken: String?
    /// Signing secrets by source; a source without one answers 503 `not_configured`.
    public var webhookSecrets: [WebhookSource: String]
    /// Serves `POST /bench/noop` (202, no work): the HTTP framework's ceiling, for benchmarks.
    public var benchRoute: Bool
    /// Requests each log one line at this level (`info`; `debug` silences them at the default level).
    public var logRequests: Bool
    /// Serves only `/metrics`, `/healthz` and `/readyz`: the endpoint of a `cityos work` process,
    /// so each worker's job counters and durations can be scraped.
    public var metricsOnly = false
    /// Answers well-formed webhooks on the event loop (`WebhookFastPath`) instead of through the
    /// router; anything it would refuse still goes to the router. `http.webhook_fast_path`.
    public var webhookFastPath = true
    /// Event loops (threads) of the server's own: they accept, read and answer connections, and
    /// each has its webhook enqueuer's Redis connection. nil shares NIO's process-wide group (one
    /// loop per core; tests). `http.event_loops`.
    public var eventLoops: Int?
    /// A connection on which nothing is read or written this long is closed; 0 keeps idle
    /// connections open. `http.idle_timeout_seconds`.
    public var idleTimeoutSeconds: Double = 60
    /// A redelivery of the same (source, event id) within this many seconds creates no second
    /// job (Redis keeps a key per event that long). `webhooks.dedupe_hours`.
    public var webhookDedupeSeconds = 7 * 86_400

    public init(host: String = "127.0.0.1", port: Int = 8080, namespace: String = "cityos",
                opsToken: String? = nil, webhookSecrets: [WebhookSource: String] = [:],
                benchRoute: Bool = false, logRequests: Bool = true) {
        self.host = host
        self.port = port
        self.namespace = namespace
        self.opsToken = opsToken
        self.webhookSecrets = webhookSecrets
        self.benchRoute = benchRoute
        self.logRequests = logRequests
    }

    /// The ingress settings of a loaded configuration (`http.*`, `ops.token`,
    /// `CITYOS_WEBHOOK_SECRET_<SOURCE>`, `redis.namespace`).
    public init(config: CityOSConfig, benchRoute: Bool = false) {
        var secrets: [WebhookSource: String] = [:]
        for source in WebhookSource.allCases {
            if let secret = config.webhookSecret(source.rawValue) { secrets[source] = secret }
        }
        self.init(host: config.httpHost, port: config.httpPort, namespace: config.redisNamespace,
                  opsToken: config.opsToken, webhookSecrets: secrets, benchRoute: benchRoute)
        self.webhookFastPath = config.webhookFastPath
        self.eventLoops = config.httpEventLoops
        self.idleTimeoutSeconds = config.httpIdleTimeout
        self.webhookDedupeSeconds = config.webhookDedupeHours * 3600
    }
}
