import AsyncHTTPClient
import CityOSTesting
import Config
import Connectors
import Foundation
import Ingress
import Jobs
import Logging
import NIOCore
import PostgresNIO
import Queue
import Sandbox
import Store
import XCTest

/// The sync's world, all over real HTTP: the test PostgreSQL (migrated), a real ingress on a free
/// port, a sandbox whose Medusa and Payload send signed webhooks to that ingress, connectors to the
/// sandbox, and real workers on the `webhooks` and `sync` queues (in this process, or `cityos work`
/// processes a test starts and kills).
final class SyncWorld: @unchecked Sendable {
    // Set once in `run`, read-only afterwards.
    let app: Database
    let queue: QueueHarness
    let sandbox: SandboxServer
    let sandboxURL: String
    let ingressPort: Int
    let connectors: Connectors
    let http = HTTPClient(eventLoopGroupProvider: .singleton)

    static let secrets = ["medusa": "medusa-sync-secret", "payload": "payload-sync-secret"]
    static let logger: Logger = {
        var logger = Logger(label: "cityos.sync.tests")
        logger.logLevel = ProcessInfo.processInfo.environment["CITYOS_TEST_LOG"] == nil ? .critical : .debug
        return logger
    }()

    private init(app: Database, queue: QueueHarness, sandbox: SandboxServer, sandboxURL: String, ingressPort: Int,
                 connectors: Connectors) {
        self.app = app
        self.queue = queue
        self.sandbox = sandbox
        self.sandboxURL = sandboxURL
        self.ingressPort = ingressPort
        self.connectors = connectors
    }

    /// Runs `body` with everything up; `workers: false` leaves the queues to `cityos work` processes.
    static func run(workers: Bool = true, _ body: (SyncWorld) async throws -> Void) async throws {
        let databases = try TestPostgres(appConnections: 24, logger: logger)
        let app = databases.app
        let queue = try QueueHarness(label: "sync")
        let ingress = IngressServer(
            configuration: IngressConfiguration(host: "127.0.0.1", port: 0, namespace: queue.namespace,
                                                webhookSecrets: [.medusa: secrets["medusa"]!, .payload: secrets["payload"]!],
                                                logRequests: false),
            redis: queue.redis, registry: JobCatalog.registry(), logger: logger)
        let ingressTask = Task { try await ingress.run() }
        var sandboxLogger = logger
        sandboxLogger.logLevel = .critical   // its shutdown logs a CancellationError as an error
        let ingressPort = try await Self.waitFor { try await ingress.listeningPort() }
        let sandbox = SandboxServer(configuration: SandboxConfiguration(
            port: 0, webhooksURL: "http://127.0.0.1:\(ingressPort)/webhooks", webhookSecrets: secrets), logger: sandboxLogger)
        let sandboxTask = Task { try await sandbox.run() }
        let url = try await sandbox.baseURL()
        let config = try CityOSConfig.load(environment: Self.environment(sandboxURL: url, namespace: queue.namespace))
        let connectors = Connectors(config: config, redis: nil, namespace: queue.namespace, logger: logger)
        let world = SyncWorld(app: app, queue: queue, sandbox: sandbox, sandboxURL: url, ingressPort: ingressPort,
                              connectors: connectors)
        let pool = WorkerPool(redis: queue.redis, registry: world.registry,
                              configuration: WorkerConfiguration(queues: [("webhooks", 3), ("sync", 1)], concurrency: 16,
                                                                 heartbeatTTL: .seconds(2), shutdownGrace: .seconds(5),
                                                                 promoteInterval: .milliseconds(50), namespace: queue.namespace),
                              logger: logger)
        var failure: (any Error)?
        do {
            try await databases.whileRunning {
                let poolTask: Task<Void, any Error>? = workers ? Task { try await pool.run() } : nil
                do { try await body(world) } catch { failure = error }
                pool.stop()
                _ = await poolTask?.result
            }
        } catch {
            failure = failure ?? error
        }
        sandbox.stop()
        _ = await sandboxTask.result
        await ingress.stop()
        _ = await ingressTask.result
        await connectors.shutdown()
        try? await world.http.shutdown()
        try? await queue.clean()
        if let failure { throw failure }
    }

    static func waitFor<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do { return try await body() } catch {
                if ContinuousClock.now > deadline { throw error }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// What a `cityos` process (or this process's connectors) needs to reach this world.
    static func environment(sandboxURL: String, namespace: String) throws -> [String: String] {
        [
            "CITYOS_REDIS_URL": try TestEnvironment.redisURL(),
            "CITYOS_REDIS_NAMESPACE": namespace,
            "CITYOS_DATABASE_URL": try TestEnvironment.value("CITYOS_DATABASE_URL"),
            "CITYOS_SANDBOX_URL": sandboxURL,
            "CITYOS_MEDUSA_API_KEY": "sk_test_sync",
            "CITYOS_PAYLOAD_API_KEY": "payload-sync-key",
            "CITYOS_MEDUSA_RATE_LIMIT": "0",
            "CITYOS_PAYLOAD_RATE_LIMIT": "0",
            "CITYOS_CONNECTORS_TIMEOUT_SECONDS": "5",
            "CITYOS_CONNECTORS_MAX_RETRIES": "2",
        ]
    }

    var registry: JobRegistry { JobCatalog.registry(database: app, connectors: connectors) }

    // MARK: Fixtures

    func makeTenant() async throws -> UUID {
        let id = UUID()
        let slug = "s-" + id.uuidString.lowercased()
        try await app.withTenant(id) { connection in
            try await connection.query("INSERT INTO tenants (id, slug, name) VALUES (\(id), \(slug), 'Sync test')",
                                       logger: Self.logger)
        }
        return id
    }

    // MARK: Reading our tables

    struct Conflict: Equatable {
        var medusaID: String
        var field: String
        var commerce: String
        var content: String
        var winner: String
        var reason: String
    }

    func conflicts(_ tenant: UUID) async throws -> [Conflict] {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT medusa_product_id, field, coalesce(commerce_value::text, ''), coalesce(content_value::text, ''), winner, reason
                FROM sync_conflicts ORDER BY created_at, field
                """, logger: Self.logger)
            var found: [Conflict] = []
            for try await (id, field, commerce, content, winner, reason) in rows.decode((String, String, String, String, String, String).self) {
                found.append(Conflict(medusaID: id, field: field, commerce: commerce, content: content, winner: winner, reason: reason))
            }
            return found
        }
    }

    /// medusa id → payload document id, for the tenant's links.
    func links(_ tenant: UUID) async throws -> [String: String] {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query("SELECT medusa_product_id, payload_doc_id FROM sync_links", logger: Self.logger)
            var found: [String: String] = [:]
            for try await (medusa, doc) in rows.decode((String, String).self) { found[medusa] = doc }
            return found
        }
    }
}
