import Foundation
import Redaction
import Yams

/// The effective configuration: `Config/cityos.yaml` (defaults for a local run), each key
/// overridden by its `CITYOS_*` environment variable. Secrets come from the environment only.
public struct CityOSConfig: Sendable {
    /// Every setting with its final value, by key (`redis.url`, `workers.concurrency`, …).
    public private(set) var values: [String: String]
    /// Where each value came from: `default`, the file's path, or the environment variable.
    public private(set) var sources: [String: String]

    /// Loads the file (if it exists) and the environment, and checks every value.
    /// - Throws: `ConfigError` naming the first bad or missing setting.
    public static func load(file: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> CityOSConfig {
        var config = CityOSConfig(values: [:], sources: [:])
        for setting in Setting.all {
            if let value = setting.defaultValue {
                config.values[setting.key] = value
                config.sources[setting.key] = "default"
            }
        }
        let path = file ?? environment["CITYOS_CONFIG"] ?? "Config/cityos.yaml"
        if FileManager.default.fileExists(atPath: path) {
            try config.merge(fileAt: path)
        } else if file != nil || environment["CITYOS_CONFIG"] != nil {
            throw .unreadableFile(path: path, reason: "no such file")
        }
        for setting in Setting.all {
            // An empty variable counts as unset (`CITYOS_WORKERS_QUEUES=` in a deployment file):
            // taken as a value, it hid the file's setting behind the code's default.
            if let value = environment[setting.environmentName], !value.isEmpty {
                config.values[setting.key] = value
                config.sources[setting.key] = setting.environmentName
            }
        }
        // Webhook secrets, one per source, come from the environment only.
        for (name, value) in environment where name.hasPrefix("CITYOS_WEBHOOK_SECRET_") {
            let source = name.dropFirst("CITYOS_WEBHOOK_SECRET_".count).lowercased()
            config.values["webhooks.secret.\(source)"] = value
            config.sources["webhooks.secret.\(source)"] = name
        }
        try config.validate()
        return config
    }

    /// Where the YAML is broken and why, in one line, without the text around it: Yams quotes the
    /// offending line, which may hold a secret (a URL with its password, a token) set by mistake.
    static func describeYAMLError(_ error: any Error) -> String {
        if let error = error as? YamlError {
            switch error {
            case let .scanner(context, problem, mark, _),
                 let .parser(context, problem, mark, _),
                 let .composer(context, problem, mark, _):
                return "invalid YAML at line \(mark.line), column \(mark.column): \(context.map { "\($0.text): " } ?? "")\(problem)"
            default:
                break
            }
        }
        return "invalid YAML"
    }

    private mutating func merge(fileAt path: String) throws(ConfigError) {
        let text: String
        let node: Any?
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .unreadableFile(path: path, reason: "\(error)")
        }
        do {
            node = try Yams.load(yaml: text)
        } catch {
            throw .unreadableFile(path: path, reason: Self.describeYAMLError(error))
        }
        guard let root = node as? [String: Any] else {
            if node == nil { return }
            throw .unreadableFile(path: path, reason: "the top level must be a mapping")
        }
        for (key, value) in Self.flatten(root) {
            guard let setting = Setting.named(key) else { throw .unknownKey(key: key, path: path) }
            if setting.secret { throw .secretInFile(key: key, environmentName: setting.environmentName) }
            values[key] = value
            sources[key] = path
        }
    }

    private static func flatten(_ node: [String: Any], prefix: String = "") -> [(String, String)] {
        node.flatMap { (key, value) -> [(String, String)] in
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            if let nested = value as? [String: Any] { return flatten(nested, prefix: path) }
            return [(path, "\(value)")]
        }
    }

    private func validate() throws(ConfigError) {
        for setting in Setting.all {
            guard let value = values[setting.key], !value.isEmpty else {
                if setting.required {
                    throw .missing(key: setting.key, environmentName: setting.environmentName)
                }
                continue
            }
            if let problem = setting.kind.problem(with: value) {
                throw .invalid(key: setting.key, environmentName: setting.environmentName,
                               value: setting.secret ? "****" : value, expected: problem)
            }
        }
    }

    // MARK: Typed access

    public func string(_ key: String) -> String? { values[key].flatMap { $0.isEmpty ? nil : $0 } }
    public func int(_ key: String) -> Int? { values[key].flatMap { Int($0) } }
    public func double(_ key: String) -> Double? { values[key].flatMap { Double($0) } }

    public var redisURL: String { string("redis.url") ?? "" }
    public var redisConnections: Int { int("redis.connections") ?? 4 }
    public var redisNamespace: String { string("redis.namespace") ?? "cityos" }
    public var databaseURL: String { string("database.url") ?? "" }
    /// The role that owns the schema and applies migrations; defaults to `database.url`.
    public var databaseAdminURL: String { string("database.admin_url") ?? databaseURL }

    /// Why `database.admin_url` cannot be trusted to name the database the platform runs on: it
    /// comes from a file while `database.url` comes from the environment, and the two name
    /// different databases (host, port or name). The shipped file names the local dev database, so
    /// a deployment that sets only `CITYOS_DATABASE_URL` would have `cityos migrate` change that one.
    /// Nil when they agree, or are set together. Names no user or password.
    public var adminURLMismatch: String? {
        guard sources["database.url"] == "CITYOS_DATABASE_URL", sources["database.admin_url"] != "CITYOS_DATABASE_ADMIN_URL",
              let admin = string("database.admin_url") else { return nil }
        func target(_ url: String) -> String {
            guard let parts = URLComponents(string: url) else { return "an unreadable URL" }
            return "\(parts.host ?? "?"):\(parts.port ?? 5432)\(parts.path)"
        }
        let (adminTarget, appTarget) = (target(admin), target(databaseURL))
        guard adminTarget != appTarget else { return nil }
        return "database.admin_url (\(sources["database.admin_url"] ?? "default")) names \(adminTarget), but database.url "
            + "(CITYOS_DATABASE_URL) names \(appTarget): set CITYOS_DATABASE_ADMIN_URL to the schema owner's URL of that database"
    }
    public var databasePoolSize: Int { int("database.pool_size") ?? 8 }
    /// `database.lock_timeout_seconds`, `.statement_timeout_seconds` and
    /// `.idle_in_transaction_timeout_seconds` (0: no limit), in seconds.
    public var databaseSessionLimits: (lock: Int, statement: Int, idleInTransaction: Int) {
        (int("database.lock_timeout_seconds") ?? 30, int("database.statement_timeout_seconds") ?? 900,
         int("database.idle_in_transaction_timeout_seconds") ?? 300)
    }
    public var httpHost: String { string("http.host") ?? "127.0.0.1" }
    public var httpPort: Int { int("http.port") ?? 8080 }
    public var webhookFastPath: Bool { (int("http.webhook_fast_path") ?? 1) == 1 }
    /// `http.event_loops`, with 0 resolved (`defaultHTTPEventLoops`).
    public var httpEventLoops: Int {
        let configured = int("http.event_loops") ?? 0
        return configured > 0 ? configured : Self.defaultHTTPEventLoops
    }
    /// What `http.event_loops` 0 means: one fewer than the cores, at least one.
    public static var defaultHTTPEventLoops: Int { max(1, ProcessInfo.processInfo.activeProcessorCount - 1) }
    public var httpIdleTimeout: Double { Double(int("http.idle_timeout_seconds") ?? 60) }
    public var opsToken: String? { string("ops.token") }
    public var workerQueues: String { string("workers.queues") ?? "default:1" }
    public var workerConcurrency: Int { int("workers.concurrency") ?? 32 }
    public var heartbeatTTL: Double { double("workers.heartbeat_ttl_seconds") ?? 5 }
    public var shutdownGrace: Double { double("workers.shutdown_grace_seconds") ?? 25 }
    public var crashLimit: Int { int("workers.crash_limit") ?? 3 }
    public var unknownKindPatience: Int { int("workers.unknown_kind_patience_seconds") ?? 3600 }
    public var deadLetterCap: Int { int("queues.dead_letter_cap") ?? 10_000 }
    public var schedulesDirectory: String { string("scheduler.directory") ?? "Schedules" }
    /// How many days a settled webhook inbox row is kept after its last update (`webhooks.prune`).
    public var webhookInboxRetentionDays: Int { int("webhooks.inbox_retention_days") ?? 30 }
    public var webhookDedupeHours: Int { int("webhooks.dedupe_hours") ?? 168 }
    public var sandboxURL: String { string("sandbox.url") ?? "http://127.0.0.1:8090" }

    /// The signing secret for webhooks from `source` (`stripe`, `medusa`, …).
    public func webhookSecret(_ source: String) -> String? { string("webhooks.secret.\(source)") }

    /// Every setting as `key = value  (source)`, secrets masked: what `cityos config` prints.
    public func describe() -> [String] {
        values.keys.sorted().map { key in
            let secret = Setting.named(key)?.secret ?? key.hasPrefix("webhooks.secret.")
            let value = secret ? Self.mask(values[key] ?? "") : URLRedaction.maskingSecret(in: values[key] ?? "")
            return "\(key) = \(value)  (\(sources[key] ?? "default"))"
        }
    }

    static func mask(_ value: String) -> String { value.isEmpty ? "(unset)" : URLRedaction.mask }
}
