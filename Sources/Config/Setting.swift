/// One configuration setting: its key in `Config/cityos.yaml`, its `CITYOS_*` variable,
/// its default and what a valid value looks like.
public struct Setting: Sendable {
    public enum Kind: Sendable {
        case text, integer(ClosedRange<Int>), number, redisURL, postgresURL, httpURL, host

        func problem(with value: String) -> String? {
            switch self {
            case .text: return nil
            case .integer(let range):
                guard let n = Int(value), range.contains(n) else {
                    return "an integer in \(range.lowerBound)...\(range.upperBound)"
                }
                return nil
            case .number:
                // Every such setting is seconds; an infinite or huge one would trap where it becomes a duration.
                guard let n = Double(value), n.isFinite, n > 0, n <= 604_800 else {
                    return "a positive number of seconds, at most 604800 (a week)"
                }
                return nil
            case .redisURL:
                let ok = value.hasPrefix("redis://") || value.hasPrefix("unix://")
                return ok ? nil : "a redis://host:port/db URL (or unix:///path/to/redis.sock)"
            case .postgresURL:
                let ok = value.hasPrefix("postgres://") || value.hasPrefix("postgresql://")
                return ok ? nil : "a postgres://user@host:port/database URL"
            case .httpURL:
                return value.hasPrefix("http://") || value.hasPrefix("https://") ? nil : "an http(s):// URL"
            case .host:
                return value.contains(" ") ? "a host name or address" : nil
            }
        }
    }

    public let key: String
    public let kind: Kind
    public let defaultValue: String?
    public let required: Bool
    public let secret: Bool

    public var environmentName: String {
        "CITYOS_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    init(_ key: String, _ kind: Kind, default defaultValue: String? = nil,
         required: Bool = false, secret: Bool = false) {
        self.key = key
        self.kind = kind
        self.defaultValue = defaultValue
        self.required = required
        self.secret = secret
    }

    /// Every setting the platform reads. Add new ones here; the file, the environment,
    /// validation and `cityos config` all follow from this list.
    public static let all: [Setting] = [
        Setting("redis.url", .redisURL, default: "redis://127.0.0.1:6379/0", required: true),
        Setting("redis.connections", .integer(1...64), default: "4"),
        // Prefix of every Redis key; lets several platforms (or test runs) share one Redis.
        Setting("redis.namespace", .text, default: "cityos"),
        Setting("database.url", .postgresURL, required: true),
        Setting("database.admin_url", .postgresURL),
        // At least 2: the outbox relay holds one connection for its LISTEN, and PostgresNIO waits
        // for a free connection without a timeout (a pool of 1 hung every job, silently).
        Setting("database.pool_size", .integer(2...200), default: "8"),
        // Limits on each session of the workers' pool, so that a stuck query gives its connection
        // back (a job's timeout cannot interrupt a query under way); 0: none. A statement waiting
        // longer for a lock fails, and its job is retried.
        Setting("database.lock_timeout_seconds", .integer(0...86_400), default: "30"),
        Setting("database.statement_timeout_seconds", .integer(0...86_400), default: "900"),
        Setting("database.idle_in_transaction_timeout_seconds", .integer(0...86_400), default: "300"),
        Setting("http.host", .host, default: "127.0.0.1"),
        Setting("http.port", .integer(1...65535), default: "8080"),
        // 1: well-formed webhooks are answered on the event loop; 0: everything goes through the router.
        Setting("http.webhook_fast_path", .integer(0...1), default: "1"),
        // Threads answering HTTP; 0: one fewer than the cores (at least one), leaving a core to the
        // Redis on the same machine, which the ingress waits on for every webhook.
        Setting("http.event_loops", .integer(0...256), default: "0"),
        // A connection idle this long (nothing read or written) is closed; 0: never.
        Setting("http.idle_timeout_seconds", .integer(0...86_400), default: "60"),
        Setting("ops.token", .text, secret: true),
        Setting("workers.queues", .text, default: "default:1"),
        Setting("workers.concurrency", .integer(1...10_000), default: "32"),
        Setting("workers.heartbeat_ttl_seconds", .number, default: "5"),
        Setting("workers.shutdown_grace_seconds", .number, default: "25"),
        // Deaths of the worker process holding a job (crash, OOM kill) before it becomes a dead letter.
        // (At least 2: the first death blames every job in flight; later ones only the suspect running alone.)
        Setting("workers.crash_limit", .integer(2...100), default: "3"),
        // How long a job of a kind this build has no handler for (a newer build's, mid-deploy) is put
        // back for a worker that has one before it becomes a dead letter; 0: a dead letter at once.
        Setting("workers.unknown_kind_patience_seconds", .integer(0...2_592_000), default: "3600"),
        Setting("queues.dead_letter_cap", .integer(1...10_000_000), default: "10000"),
        Setting("scheduler.directory", .text, default: "Schedules"),
        // Settled webhook inbox rows (`processed`, `ignored`) untouched this many days are deleted by
        // `webhooks.prune`; `failed` ones are kept (docs/webhooks.md, "Retention").
        Setting("webhooks.inbox_retention_days", .integer(1...3650), default: "30"),
        // A redelivery of (source, event id) within this many hours creates no second job: at least
        // the longest time a sender retries (Stripe: 3 days). Costs Redis ~230 bytes per event.
        Setting("webhooks.dedupe_hours", .integer(1...2160), default: "168"),
        Setting("sandbox.url", .httpURL, default: "http://127.0.0.1:8090"),
        // Where the sandbox posts its webhooks: `<url>/<source>` (the ingress's /webhooks/{source}).
        Setting("sandbox.webhooks_url", .httpURL, default: "http://127.0.0.1:8080/webhooks"),
        Setting("stripe.secret_key", .text, secret: true),
        // Outside services (docs/sandbox.md). A service's URL defaults to `sandbox.url` + `/<service>`;
        // set it to the real service's base URL (e.g. https://api.stripe.com) in production.
        Setting("stripe.url", .httpURL),
        Setting("stripe.rate_limit", .integer(0...10_000), default: "25"),
        Setting("medusa.url", .httpURL),
        Setting("medusa.api_key", .text, secret: true),
        Setting("medusa.rate_limit", .integer(0...10_000), default: "50"),
        Setting("payload.url", .httpURL),
        Setting("payload.api_key", .text, secret: true),
        // The auth-enabled collection the API key belongs to: `Authorization: <collection> API-Key <key>`.
        Setting("payload.api_key_collection", .text, default: "users"),
        Setting("payload.rate_limit", .integer(0...10_000), default: "50"),
        Setting("fleetbase.url", .httpURL),
        Setting("fleetbase.api_key", .text, secret: true),
        Setting("fleetbase.rate_limit", .integer(0...10_000), default: "10"),
        Setting("erpnext.url", .httpURL),
        Setting("erpnext.api_key", .text, secret: true),
        Setting("erpnext.api_secret", .text, secret: true),
        Setting("erpnext.rate_limit", .integer(0...10_000), default: "10"),
        // Every outside call: the timeout of one HTTP exchange, how many times a transient failure
        // is retried within one job attempt, the longest wait between tries (a longer Retry-After
        // fails the call so the job is retried later), and the longest wait for the shared rate limit.
        Setting("connectors.timeout_seconds", .number, default: "10"),
        Setting("connectors.max_retries", .integer(0...10), default: "3"),
        Setting("connectors.max_retry_wait_seconds", .number, default: "10"),
        Setting("connectors.rate_limit_wait_seconds", .number, default: "10"),
    ]

    static func named(_ key: String) -> Setting? { all.first { $0.key == key } }
}
