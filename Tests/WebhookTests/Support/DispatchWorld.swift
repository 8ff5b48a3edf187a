import AsyncHTTPClient
import CityOSTesting
import Config
import Connectors
import Crypto
import Foundation
import Ingress
import Jobs
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Queue
import Sandbox
import Store
import XCTest

/// The whole path of a webhook, in one test process: a sandbox playing the outside services on a
/// free port, the test PostgreSQL (migrated), a real `IngressServer` on a free port with the
/// platform's registry, and a real worker pool on the test Redis (a namespace of its own) working
/// the `webhooks` queue. Tests sign events, post them over HTTP and read what the workers wrote.
final class DispatchWorld: @unchecked Sendable {
    // Set once in `run`, read-only afterwards.
    let app: Database
    let sandboxURL: String
    let connectors: Connectors
    let queue: QueueHarness
    let ingressPort: Int
    let http = HTTPClient(eventLoopGroupProvider: .singleton)

    static let opsToken = "ops-token-for-webhook-tests"
    static let secrets: [WebhookSource: String] = [
        .stripe: "whsec_dispatch", .medusa: "medusa-dispatch", .payload: "payload-dispatch",
        .fleetbase: "fleetbase-dispatch", .erpnext: "erpnext-dispatch",
    ]
    static let logger: Logger = {
        var logger = Logger(label: "cityos.webhook.tests")
        logger.logLevel = ProcessInfo.processInfo.environment["CITYOS_TEST_LOG"] == nil ? .critical : .debug
        return logger
    }()

    private init(app: Database, sandboxURL: String, connectors: Connectors, queue: QueueHarness, ingressPort: Int) {
        self.app = app
        self.sandboxURL = sandboxURL
        self.connectors = connectors
        self.queue = queue
        self.ingressPort = ingressPort
    }

    /// Runs `body` with everything started; stops it all after. `dispatch` replaces the platform's
    /// dispatch table (tests of the inbox itself); `queues` are what the workers serve.
    static func run(dispatch: ((Database, Connectors) -> WebhookDispatch)? = nil, workers: Bool = true,
                    _ body: (DispatchWorld) async throws -> Void) async throws {
        let databases = try TestPostgres(appConnections: 8, logger: logger)
        let app = databases.app
        let sandbox = SandboxServer(configuration: SandboxConfiguration(port: 0, sendWebhooks: false), logger: logger)
        let sandboxTask = Task { try await sandbox.run() }
        let sandboxURL = try await sandbox.baseURL()
        let config = try CityOSConfig.load(environment: environment(sandboxURL: sandboxURL))
        let connectors = Connectors(config: config, redis: nil, namespace: "unused", logger: logger)
        var registry = JobCatalog.registry(database: app, connectors: connectors)
        if let dispatch {
            registry.registerWebhookJobs(dispatch: dispatch(app, connectors), inbox: WebhookInbox(database: app))
        }
        let queue = try QueueHarness(registry: registry, label: "dispatch")
        // As `cityos run` does: this process's webhook outcomes on the ingress's /metrics.
        let metrics = IngressMetrics()
        WebhookOutcomeCounter.process.forward(to: metrics.countWebhookOutcome)
        let server = IngressServer(
            configuration: IngressConfiguration(host: "127.0.0.1", port: 0, namespace: queue.namespace, opsToken: opsToken,
                                                webhookSecrets: secrets, logRequests: false),
            redis: queue.redis, registry: registry, metrics: metrics,
            webhookInbox: { status, limit, hours in
                try await WebhookInboxSummary.read(database: app, status: status, limit: limit, hours: hours).json()
            },
            logger: logger)
        let serverTask = Task { try await server.run() }
        defer { serverTask.cancel() }
        // Without in-process workers, the test runs `cityos work` processes of its own.
        let pool = queue.makePool(queues: [("webhooks", 1), ("payments", 1)], concurrency: 4)
        let poolTask = Task { if workers { try await pool.run() } }
        let world = DispatchWorld(app: app, sandboxURL: sandboxURL, connectors: connectors, queue: queue,
                                  ingressPort: try await server.listeningPort())
        var failure: (any Error)?
        do {
            try await databases.whileRunning {
                defer { pool.stop() }
                try await body(world)
            }
        } catch {
            failure = error
        }
        pool.stop()
        _ = await poolTask.result
        await server.stop()
        _ = await serverTask.result
        sandbox.stop()
        _ = await sandboxTask.result
        await connectors.shutdown()
        try? await world.http.shutdown()
        try? await queue.clean()
        if let failure { throw failure }
    }

    /// What a `cityos work` process needs to work this world's queues.
    var childEnvironment: [String: String] {
        get throws {
            try Self.environment(sandboxURL: sandboxURL).merging([
                "CITYOS_REDIS_NAMESPACE": queue.namespace, "CITYOS_WORKERS_HEARTBEAT_TTL_SECONDS": "1",
                "CITYOS_LOG_LEVEL": "info",
            ]) { $1 }
        }
    }

    static func environment(sandboxURL: String) throws -> [String: String] {
        [
            "CITYOS_REDIS_URL": try TestEnvironment.redisURL(),
            "CITYOS_DATABASE_URL": try TestEnvironment.value("CITYOS_DATABASE_URL"),
            "CITYOS_SANDBOX_URL": sandboxURL,
            "CITYOS_STRIPE_SECRET_KEY": "sk_test_sandbox",
            "CITYOS_MEDUSA_API_KEY": "sk_medusa_test",
            "CITYOS_PAYLOAD_API_KEY": "payload-key",
            "CITYOS_FLEETBASE_API_KEY": "flb_test_key",
            "CITYOS_ERPNEXT_API_KEY": "erp-key",
            "CITYOS_ERPNEXT_API_SECRET": "erp-secret",
            "CITYOS_CONNECTORS_TIMEOUT_SECONDS": "2",
            "CITYOS_CONNECTORS_MAX_RETRIES": "2",
        ]
    }

    // MARK: Posting signed events

    struct Answer {
        var status: Int
        var body: [UInt8]
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Posts `event` (a JSON object) to `/webhooks/<source>`, signed as that source signs.
    @discardableResult
    func post(_ source: WebhookSource, _ event: [String: Any]) async throws -> Answer {
        let body = Array(try JSONSerialization.data(withJSONObject: event, options: [.sortedKeys]))
        let secret = Self.secrets[source] ?? ""
        var headers = [("Content-Type", "application/json")]
        switch source {
        case .stripe: headers.append(("Stripe-Signature", Self.timestamped(body, secret: secret)))
        case .medusa, .payload: headers.append(("CityOS-Signature", Self.timestamped(body, secret: secret)))
        case .fleetbase: headers.append(("Signature", Self.hex(Self.hmac(secret, body))))
        case .erpnext: headers.append(("X-Frappe-Webhook-Signature", Data(Self.hmac(secret, body)).base64EncodedString()))
        }
        let answer = try await request("POST", "http://127.0.0.1:\(ingressPort)/webhooks/\(source.rawValue)", body: body,
                                       headers: headers)
        XCTAssertEqual(answer.status, 202, answer.text)
        return answer
    }

    /// `/v1/*` of the ingress with the ops token.
    func ops(_ path: String) async throws -> Answer {
        try await request("GET", "http://127.0.0.1:\(ingressPort)\(path)", headers: [("Authorization", "Bearer \(Self.opsToken)")])
    }

    func request(_ method: String, _ url: String, body: [UInt8]? = nil, headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await http.execute(request, timeout: .seconds(10))
        let collected = try await response.body.collect(upTo: 16 << 20)
        return Answer(status: Int(response.status.code), body: Array(collected.readableBytesView))
    }

    /// The sandbox's control API or a service path, as JSON.
    func sandbox(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        let bytes = try body.map { Array(try JSONSerialization.data(withJSONObject: $0)) }
        let answer = try await request(method, sandboxURL + path, body: bytes, headers: [("Content-Type", "application/json")])
        return answer.json ?? [:]
    }

    static func hmac(_ secret: String, _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8))))
    }
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    static func timestamped(_ body: [UInt8], secret: String) -> String {
        let time = Int(Date().timeIntervalSince1970)
        return "t=\(time),v1=\(hex(hmac(secret, Array("\(time).".utf8) + body)))"
    }

    // MARK: The store

    struct InboxRow: Equatable {
        var type: String
        var status: String
        var error: String?
        var attempts: Int
        var tenant: UUID?
    }

    /// The inbox row of (source, event id), read as the platform role (every tenant).
    func inbox(_ source: String, _ eventID: String) async throws -> InboxRow? {
        try await app.withPlatformSweep { connection in
            let rows = try await connection.query("""
                SELECT type, status, error, attempts, tenant_id FROM webhook_inbox
                WHERE source = \(source) AND external_id = \(eventID)
                """, logger: Self.logger)
            for try await (type, status, error, attempts, tenant) in rows.decode((String, String, String?, Int, UUID?).self) {
                return InboxRow(type: type, status: status, error: error, attempts: attempts, tenant: tenant)
            }
            return nil
        }
    }

    /// Waits until the inbox row of (source, event id) has `status`; returns it.
    @discardableResult
    func settled(_ source: String, _ eventID: String, as status: String, timeout: Duration = .seconds(20),
                 file: StaticString = #filePath, line: UInt = #line) async throws -> InboxRow {
        var last: InboxRow?
        try await eventually(timeout: timeout, "inbox \(source) \(eventID) to be \(status); last: \(String(describing: last))",
                             file: file, line: line) {
            last = try await self.inbox(source, eventID)
            return last?.status == status
        }
        return try XCTUnwrap(last)
    }

    /// One value per row of `sql`, as `tenant` (row-level security applies).
    func values<Value: PostgresDecodable & Sendable>(_ tenant: UUID, _ sql: String, as type: Value.Type) async throws -> [Value] {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger)
            var found: [Value] = []
            for try await value in rows.decode(Value.self) { found.append(value) }
            return found
        }
    }

    // MARK: Fixtures

    func makeTenant() async throws -> UUID {
        let id = UUID()
        try await app.withTenant(id) { connection in
            try await connection.query("""
                INSERT INTO tenants (id, slug, name, settings) VALUES (\(id), \("w-" + id.uuidString.lowercased()), 'Webhook test',
                    '{"payouts": {"hold_days": 0}}'::jsonb)
                """, logger: Self.logger)
        }
        return id
    }

    func makeVendor(_ tenant: UUID, account: String? = nil, payoutsEnabled: Bool = false) async throws -> UUID {
        let id = UUID()
        try await app.withTenant(tenant) { connection in
            try await connection.query("""
                INSERT INTO vendors (tenant_id, id, slug, name, stripe_account_id, payouts_enabled, minimum_payout_currency)
                VALUES (\(tenant), \(id), \("v-" + id.uuidString.lowercased()), 'Vendor', \(account), \(payoutsEnabled), 'USD')
                """, logger: Self.logger)
            try await connection.query("""
                INSERT INTO commission_rules (tenant_id, id, vendor_id, basis_points) VALUES (\(tenant), \(UUID()), \(id), 1000)
                """, logger: Self.logger)
        }
        return id
    }

    /// Counts of this process's webhook outcomes (deltas are what a test compares).
    func outcomeCount(_ source: String, _ outcome: String) -> Int {
        WebhookOutcomeCounter.process.total(source: source, outcome: outcome)
    }
}
