import Config
import Foundation

/// How the sandbox listens, where it sends webhooks and what it checks.
public struct SandboxConfiguration: Sendable {
    /// Loopback only: the sandbox is for local runs and tests.
    public var host: String
    /// 0 picks a free port (tests); `SandboxServer.listeningPort()` tells which.
    public var port: Int
    /// Webhooks go to `<webhooksURL>/<source>` (the ingress's `POST /webhooks/{source}`).
    public var webhooksURL: String
    /// Signing secrets by source (`stripe`, `medusa`, `payload`, `fleetbase`, `erpnext`). A source
    /// without one gets no webhooks (the delivery is recorded as skipped).
    public var webhookSecrets: [String: String]
    /// Whether webhooks are sent at start (the control API turns them on and off).
    public var sendWebhooks: Bool
    /// Credentials the sandbox insists on, by setting key (`stripe.secret_key`, `medusa.api_key`,
    /// `payload.api_key`, `fleetbase.api_key`, `erpnext.api_key`, `erpnext.api_secret`). Without
    /// one, any credential of the right form is accepted.
    public var credentials: [String: String]
    /// The longest a scripted `hang` holds a call.
    public var maxHang: Duration

    public init(host: String = "127.0.0.1", port: Int = 8090, webhooksURL: String = "http://127.0.0.1:8080/webhooks",
                webhookSecrets: [String: String] = [:], sendWebhooks: Bool = true, credentials: [String: String] = [:],
                maxHang: Duration = .seconds(60)) {
        self.host = host
        self.port = port
        self.webhooksURL = webhooksURL.hasSuffix("/") ? String(webhooksURL.dropLast()) : webhooksURL
        self.webhookSecrets = webhookSecrets
        self.sendWebhooks = sendWebhooks
        self.credentials = credentials
        self.maxHang = maxHang
    }

    /// The port of `sandbox.url`, `sandbox.webhooks_url`, the webhook secrets and the services'
    /// credentials from the platform's configuration; `port` overrides the URL's port.
    public static func from(_ config: CityOSConfig, port: Int? = nil) -> SandboxConfiguration {
        var secrets: [String: String] = [:]
        for source in SandboxService.allCases {
            if let secret = config.webhookSecret(source.rawValue) { secrets[source.rawValue] = secret }
        }
        var credentials: [String: String] = [:]
        for key in Self.credentialKeys {
            if let value = config.string(key) { credentials[key] = value }
        }
        let urlPort = URLComponents(string: config.sandboxURL)?.port ?? 8090
        return SandboxConfiguration(
            port: port ?? urlPort,
            webhooksURL: config.string("sandbox.webhooks_url") ?? "http://127.0.0.1:8080/webhooks",
            webhookSecrets: secrets, credentials: credentials)
    }

    static let credentialKeys = ["stripe.secret_key", "medusa.api_key", "payload.api_key", "fleetbase.api_key",
                                 "erpnext.api_key", "erpnext.api_secret"]
}
