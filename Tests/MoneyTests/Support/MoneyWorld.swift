import AsyncHTTPClient
import CityOSTesting
import Config
import Connectors
import Foundation
import Jobs
import Logging
import NIOCore
import PostgresNIO
import Queue
import Sandbox
import Store
import XCTest

/// The test's money world: the test PostgreSQL (migrated), a sandbox of its own on a free port,
/// connectors pointed at it, and fixtures made the way provisioning makes them.
final class MoneyWorld: @unchecked Sendable {
    // Set once in `run`, read-only afterwards.
    let app: Database
    /// The schema owner (for a test that installs a trigger).
    let admin: Database
    let sandbox: SandboxServer
    let sandboxURL: String
    let connectors: Connectors
    let http = HTTPClient(eventLoopGroupProvider: .singleton)
    let namespace = TestEnvironment.uniqueNamespace("money")
    static let logger: Logger = {
        var logger = Logger(label: "cityos.money.tests")
        logger.logLevel = ProcessInfo.processInfo.environment["CITYOS_TEST_LOG"] == nil ? .error : .debug
        return logger
    }()

    private init(app: Database, admin: Database, sandbox: SandboxServer, sandboxURL: String, connectors: Connectors) {
        self.app = app
        self.admin = admin
        self.sandbox = sandbox
        self.sandboxURL = sandboxURL
        self.connectors = connectors
    }

    /// Runs `body` with the databases running and migrated and a sandbox started; stops them after.
    static func run(_ body: (MoneyWorld) async throws -> Void) async throws {
        let databases = try TestPostgres(appConnections: 8, logger: logger)
        let app = databases.app
        var sandboxLogger = logger
        sandboxLogger.logLevel = .critical   // its shutdown logs a CancellationError as an error
        let sandbox = SandboxServer(configuration: SandboxConfiguration(port: 0, sendWebhooks: false), logger: sandboxLogger)
        let sandboxTask = Task { try await sandbox.run() }
        let url = try await sandbox.baseURL()
        let config = try CityOSConfig.load(environment: Self.environment(sandboxURL: url, namespace: "unused"))
        let connectors = Connectors(config: config, redis: nil, namespace: "unused", logger: logger)
        let world = MoneyWorld(app: app, admin: databases.admin, sandbox: sandbox, sandboxURL: url, connectors: connectors)
        do {
            try await databases.whileRunning { try await body(world) }
        } catch {
            await world.stop(sandboxTask)
            throw error
        }
        await world.stop(sandboxTask)
    }

    private func stop(_ task: Task<Void, any Error>) async {
        sandbox.stop()
        _ = await task.result
        await connectors.shutdown()
        try? await http.shutdown()
    }

    /// What a `cityos` process needs to reach this world (Redis namespace: the caller's).
    static func environment(sandboxURL: String, namespace: String) throws -> [String: String] {
        [
            "CITYOS_REDIS_URL": try TestEnvironment.redisURL(),
            "CITYOS_REDIS_NAMESPACE": namespace,
            "CITYOS_DATABASE_URL": try TestEnvironment.value("CITYOS_DATABASE_URL"),
            "CITYOS_SANDBOX_URL": sandboxURL,
            "CITYOS_STRIPE_SECRET_KEY": "sk_test_sandbox",
            "CITYOS_CONNECTORS_TIMEOUT_SECONDS": "2",
            "CITYOS_CONNECTORS_MAX_RETRIES": "2",
        ]
    }

    // MARK: Jobs, run in this process

    var registry: JobRegistry { JobCatalog.registry(database: app, connectors: connectors) }

    /// Runs one delivery of a job (an `id` of an earlier delivery makes it a redelivery).
    func run<H: JobHandler>(_ handler: H, _ arguments: H.Arguments, tenant: UUID?, id: String = JobID.make()) async throws {
        let envelope = JobEnvelope(id: id, kind: H.kind, queue: H.options.queue, tenant: tenant?.uuidString.lowercased(),
                                   maxAttempts: H.options.retry.maxAttempts)
        try await handler.run(arguments, context: JobContext(envelope: envelope, logger: Self.logger))
    }

    var calculate: CommissionCalculateJob { CommissionCalculateJob(database: app) }
    var reverse: CommissionReverseJob { CommissionReverseJob(database: app) }
    var payVendor: PayoutsVendorJob { PayoutsVendorJob(database: app, stripe: connectors.stripe) }

    // MARK: Fixtures

    /// A tenant whose payouts hold entries for `holdDays` days.
    func makeTenant(holdDays: Int = 0) async throws -> UUID {
        let id = UUID()
        let slug = "m-" + id.uuidString.lowercased()
        let settings = "{\"payouts\": {\"hold_days\": \(holdDays)}}"
        try await app.withTenant(id) { connection in
            try await connection.query(
                "INSERT INTO tenants (id, slug, name, settings) VALUES (\(id), \(slug), 'Money test', \(settings)::jsonb)",
                logger: Self.logger)
        }
        return id
    }

    /// A vendor; `account: .connected` opens a connected account in the sandbox, `.existing` uses one.
    enum Account { case connected, none, missing, existing(String) }
    func makeVendor(_ tenant: UUID, account: Account = .connected, payoutsEnabled: Bool = true,
                    minimum: Int64 = 0, currency: String = "USD") async throws -> (id: UUID, account: String?) {
        let id = UUID()
        let accountID: String?
        switch account {
        case .connected: accountID = try await createAccount()
        case .none: accountID = nil
        case .missing: accountID = "acct_does_not_exist_" + id.uuidString.prefix(8).lowercased()
        case .existing(let account): accountID = account
        }
        try await app.withTenant(tenant) { connection in
            try await connection.query("""
                INSERT INTO vendors (tenant_id, id, slug, name, stripe_account_id, payouts_enabled,
                                     minimum_payout_amount, minimum_payout_currency)
                VALUES (\(tenant), \(id), \("v-" + id.uuidString.lowercased()), 'Vendor', \(accountID), \(payoutsEnabled),
                        \(minimum), \(currency))
                """, logger: Self.logger)
        }
        return (id, accountID)
    }

    /// The tenant's default rule (vendor nil) or a vendor's override, with tiers (their thresholds
    /// in `tierCurrency`; nil: a tier without a currency, as before migration 0016).
    func setRule(_ tenant: UUID, vendor: UUID? = nil, basisPoints: Int, flat: Int64 = 0, currency: String = "USD",
                 tiers: [(Int64, Int)] = [], tierCurrency: String? = "USD") async throws {
        let ruleID = UUID()
        try await app.withTenant(tenant) { connection in
            try await connection.query("""
                INSERT INTO commission_rules (tenant_id, id, vendor_id, basis_points, flat_amount, flat_currency)
                VALUES (\(tenant), \(ruleID), \(vendor), \(basisPoints), \(flat), \(flat > 0 ? currency : nil))
                """, logger: Self.logger)
            for (minimum, bps) in tiers {
                try await connection.query("""
                    INSERT INTO commission_tiers (tenant_id, rule_id, min_monthly_sales, basis_points, currency)
                    VALUES (\(tenant), \(ruleID), \(minimum), \(bps), \(tierCurrency))
                    """, logger: Self.logger)
            }
        }
    }

    static func placedAt(daysAgo: Int = 10) -> String {
        ISO8601DateFormatter().string(from: Date().addingTimeInterval(-Double(daysAgo) * 86_400))
    }

    // MARK: Reading the ledger

    /// The sum of the tenant's entries matching `condition` (SQL over `vendor_ledger_entries`).
    func sum(_ tenant: UUID, _ condition: String) async throws -> Int64 {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL:
                "SELECT coalesce(sum(amount), 0)::bigint FROM vendor_ledger_entries WHERE \(condition)"), logger: Self.logger)
            for try await value in rows.decode(Int64.self) { return value }
            return 0
        }
    }

    func balance(_ tenant: UUID, vendor: UUID) async throws -> Int64 {
        try await sum(tenant, "vendor_id = '\(vendor.uuidString.lowercased())'")
    }

    /// The vendor's payouts: (status, amount, transfer id, failure reason), oldest first.
    func payouts(_ tenant: UUID, vendor: UUID) async throws -> [(status: String, amount: Int64, transfer: String?, reason: String?)] {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT status, amount, stripe_transfer_id, failure_reason FROM payouts
                WHERE vendor_id = \(vendor) ORDER BY created_at
                """, logger: Self.logger)
            var found: [(status: String, amount: Int64, transfer: String?, reason: String?)] = []
            for try await row in rows.decode((String, Int64, String?, String?).self) { found.append(row) }
            return found
        }
    }

    // MARK: The sandbox

    static let stripeHeaders = ["Authorization": "Bearer sk_test_sandbox",
                                "Content-Type": "application/x-www-form-urlencoded"]

    func stripe(_ method: String, _ path: String, body: String? = nil) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: sandboxURL + "/stripe" + path)
        request.method = .init(rawValue: method)
        for (name, value) in Self.stripeHeaders { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await http.execute(request, timeout: .seconds(10))
        let data = Data((try await response.body.collect(upTo: 16 << 20)).readableBytesView)
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    /// Scripts an outcome (`POST /_sandbox/script`, docs/sandbox.md), e.g.
    /// `{"kind": "garble", "endpoint": "POST /stripe/v1/transfers"}`.
    func script(_ json: String) async throws {
        try await control("/_sandbox/script", json)
    }

    /// Sets connected account `account`'s `transfers` capability (`active`, `inactive`, `pending`),
    /// as Stripe's review would, its payouts left as they are.
    func setTransfers(_ account: String, _ capability: String) async throws {
        try await control("/_sandbox/stripe/accounts/\(account)", "{\"transfers\": \"\(capability)\"}")
    }

    /// Sets the platform's available Stripe balance in `currency` (Stripe's units; nil: no limit).
    func setAvailable(_ currency: String, _ amount: Int?) async throws {
        try await control("/_sandbox/stripe/balance", "{\"currency\": \"\(currency)\", \"available\": \(amount.map(String.init) ?? "null")}")
    }

    /// Forgets Stripe's idempotency keys, as Stripe does 24 hours after a key's first use.
    func expireIdempotencyKeys() async throws {
        try await control("/_sandbox/stripe/idempotency/expire", "{}")
    }

    /// A call to the sandbox's control API, which must take it.
    private func control(_ path: String, _ json: String) async throws {
        var request = HTTPClientRequest(url: sandboxURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
        let response = try await http.execute(request, timeout: .seconds(10))
        XCTAssertEqual(response.status.code, 200, "the sandbox took \(path) \(json)")
    }

    func createAccount() async throws -> String {
        let account = try await stripe("POST", "/v1/accounts", body: "type=express&country=US")
        return try XCTUnwrap(account["id"] as? String)
    }

    /// Every transfer the sandbox made to `destination`: (id, amount).
    func transfers(to destination: String) async throws -> [(id: String, amount: Int)] {
        var request = HTTPClientRequest(url: sandboxURL + "/_sandbox/state")
        request.method = .GET
        let response = try await http.execute(request, timeout: .seconds(10))
        let data = Data((try await response.body.collect(upTo: 16 << 20)).readableBytesView)
        let state = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        let ids = ((state["stripe"] as? [String: Any])?["transfers"] as? [Any] ?? []).compactMap { $0 as? String }
        var found: [(id: String, amount: Int)] = []
        for id in ids {
            let transfer = try await stripe("GET", "/v1/transfers/\(id)")
            if transfer["destination"] as? String == destination {
                found.append((id, (transfer["amount"] as? NSNumber)?.intValue ?? -1))
            }
        }
        return found
    }
}
