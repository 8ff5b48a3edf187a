import AsyncHTTPClient
import CityOSTesting
import Config
import Connectors
import Foundation
@testable import Jobs
import Logging
import NIOCore
import PostgresNIO
import Queue
import Sandbox
import Store
import XCTest

/// The test's billing world: the test PostgreSQL (migrated), a sandbox of its own on a free port,
/// connectors pointed at it, a manual billing clock, and — while `withWorkers` runs — the outbox
/// relay and a worker pool on a Redis namespace of its own, so jobs run the way production runs them.
final class BillingWorld: @unchecked Sendable {
    // Set once in `run`, read-only afterwards.
    let app: Database
    let sandbox: SandboxServer
    let sandboxURL: String
    let connectors: Connectors
    let clock: JobClock
    let queue: QueueHarness
    let http = HTTPClient(eventLoopGroupProvider: .singleton)
    static let start = ISO8601DateFormatter().date(from: "2027-01-01T00:00:00Z")!
    static let logger: Logger = {
        var logger = Logger(label: "cityos.billing.tests")
        logger.logLevel = ProcessInfo.processInfo.environment["CITYOS_TEST_LOG"] == nil ? .critical : .debug
        return logger
    }()

    /// Where `money.reconcile` publishes (a namespace of its own on the test Redis).
    let checks: StatusChecks

    private init(app: Database, sandbox: SandboxServer, sandboxURL: String, connectors: Connectors, clock: JobClock,
                 queue: QueueHarness, checks: StatusChecks) {
        self.checks = checks
        self.app = app
        self.sandbox = sandbox
        self.sandboxURL = sandboxURL
        self.connectors = connectors
        self.clock = clock
        self.queue = queue
    }

    /// Runs `body` with the databases running and migrated and a sandbox started (sending its
    /// webhooks as `sandbox` says; by default none); stops them after.
    static func run(sandbox configuration: SandboxConfiguration = SandboxConfiguration(port: 0, sendWebhooks: false),
                    _ body: (BillingWorld) async throws -> Void) async throws {
        let databases = try TestPostgres(appConnections: 16, logger: logger)
        let app = databases.app
        var sandboxLogger = logger
        sandboxLogger.logLevel = .critical   // its shutdown logs a CancellationError as an error
        let sandbox = SandboxServer(configuration: configuration, logger: sandboxLogger)
        let sandboxTask = Task { try await sandbox.run() }
        let url = try await sandbox.baseURL()
        let config = try CityOSConfig.load(environment: [
            "CITYOS_SANDBOX_URL": url, "CITYOS_STRIPE_SECRET_KEY": "sk_test_sandbox",
            "CITYOS_CONNECTORS_TIMEOUT_SECONDS": "5", "CITYOS_CONNECTORS_MAX_RETRIES": "2",
        ])
        let connectors = Connectors(config: config, redis: nil, namespace: "unused", logger: logger)
        let clock = JobClock.manual(at: start)
        // The harness's registry is the platform's, on this world's database, connectors and clock.
        let checks = StatusChecks(redis: try TestEnvironment.redis(), namespace: TestEnvironment.uniqueNamespace("billing-checks"))
        let queue = try QueueHarness(registry: JobCatalog.registry(database: app, connectors: connectors, clock: clock,
                                                                   checks: checks), label: "billing")
        let world = BillingWorld(app: app, sandbox: sandbox, sandboxURL: url, connectors: connectors, clock: clock, queue: queue,
                                 checks: checks)
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
        try? await queue.clean()
        try? await NamespaceCleanup.deleteAll(redis: checks.redis, namespace: checks.namespace)
    }

    // MARK: Jobs

    /// Runs `body` while the outbox relay feeds this world's Redis namespace and a worker pool works
    /// the billing, payments and webhooks queues.
    func withWorkers<T>(concurrency: Int = 32, _ body: () async throws -> T) async throws -> T {
        let relay = OutboxRelay(database: app, batchSize: 500, pollInterval: .milliseconds(100),
                                sink: OutboxRelay.queueSink(queue.client))
        let relayTask = Task { await relay.run() }
        defer { relayTask.cancel() }
        return try await queue.withPool(queues: [("billing", 1), ("payments", 1), ("webhooks", 1)], concurrency: concurrency) { _ in
            try await body()
        }
    }

    /// Enqueues a job and waits (bounded) until the pool reports it succeeded.
    func runQueued<H: JobHandler>(_ kind: H.Type, _ arguments: H.Arguments, tenant: UUID? = nil,
                                  timeout: Duration = .seconds(30)) async throws {
        let receipt = try await queue.client.enqueue(kind, arguments, options: .init(tenant: tenant?.uuidString.lowercased()))
        try await eventually(timeout: timeout, "\(H.kind) \(receipt.id) succeeds (dead: \(queue.events.deadReason(receipt.id) ?? "-"))") {
            queue.events.succeeded(receipt.id)
        }
    }

    /// Runs one delivery of a job in this process.
    func run<H: JobHandler>(_ handler: H, _ arguments: H.Arguments, tenant: UUID?, id: String = JobID.make()) async throws {
        let envelope = JobEnvelope(id: id, kind: H.kind, queue: H.options.queue, tenant: tenant?.uuidString.lowercased(),
                                   maxAttempts: H.options.retry.maxAttempts)
        try await handler.run(arguments, context: JobContext(envelope: envelope, logger: Self.logger))
    }

    var invoiceJob: BillingInvoiceJob { BillingInvoiceJob(database: app, stripe: connectors.stripe, clock: clock) }
    var events: PaymentIntentEvents { PaymentIntentEvents(database: app, clock: clock) }
    var book: InvoiceBook { InvoiceBook(database: app, logger: Self.logger) }

    // MARK: Fixtures

    /// A tenant; `dunning` is its `settings.billing.dunning` document (JSON), if any.
    func makeTenant(dunning: String? = nil) async throws -> UUID {
        let id = UUID()
        let slug = "b-" + id.uuidString.lowercased()
        let settings = dunning.map { "{\"billing\": {\"dunning\": \($0)}}" } ?? "{}"
        try await app.withTenant(id) { connection in
            try await connection.query(
                "INSERT INTO tenants (id, slug, name, settings) VALUES (\(id), \(slug), 'Billing test', \(settings)::jsonb)",
                logger: Self.logger)
        }
        return id
    }

    func makePlan(_ tenant: UUID, code: String = "basic", amount: Int64 = 2_900, currency: String = "USD",
                  unit: String = "month", count: Int = 1) async throws -> UUID {
        let id = UUID()
        try await app.withTenant(tenant) { connection in
            try await connection.query("""
                INSERT INTO plans (tenant_id, id, code, name, amount, currency, interval_unit, interval_count)
                VALUES (\(tenant), \(id), \(code), \(code), \(amount), \(currency), \(unit), \(count))
                """, logger: Self.logger)
        }
        return id
    }

    /// `count` subscriptions due at the clock's time (a zero-length first period), customers
    /// `<prefix>-<n>`, all with `paymentMethod`.
    @discardableResult
    func makeSubscriptions(_ tenant: UUID, plan: UUID, count: Int, prefix: String = "cus",
                           paymentMethod: String = "pm_card_visa") async throws -> [UUID] {
        let at = clock.now()
        return try await app.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                INSERT INTO subscriptions (tenant_id, id, customer_id, payment_method, plan_id, current_period_start, current_period_end)
                SELECT \(tenant), gen_random_uuid(), \(prefix) || '-' || n, \(paymentMethod), \(plan), \(at), \(at)
                FROM generate_series(1, \(count)) AS n
                RETURNING id
                """, logger: Self.logger)
            var ids: [UUID] = []
            for try await id in rows.decode(UUID.self) { ids.append(id) }
            return ids
        }
    }

    // MARK: Reading the books

    func scalar(_ tenant: UUID, _ sql: String) async throws -> Int {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT (\(sql))::int8"), logger: Self.logger)
            for try await value in rows.decode(Int64?.self) { return Int(value ?? 0) }
            return 0
        }
    }

    struct InvoiceRow: Equatable {
        var id: UUID
        var status: String
        var attempts: Int
        var nextAttemptAt: Date?
        var periodStart: Date
        var periodEnd: Date
        var amount: Int64
    }

    /// An open invoice of `subscription` (its plan, the period after its paid one) for `amount` USD
    /// cents, its first attempt failed and the next one due at `due`. Returns its id.
    @discardableResult
    func openInvoice(_ tenant: UUID, subscription: UUID, amount: Int64, nextAttemptAt due: Date) async throws -> UUID {
        let invoice = UUID()
        try await app.withTenant(tenant) { connection in
            try await connection.query("""
                INSERT INTO invoices (tenant_id, id, subscription_id, plan_id, period_start, period_end, amount, currency,
                                      status, attempt_count, next_attempt_at)
                SELECT \(tenant), \(invoice), id, plan_id, current_period_end, current_period_end + interval '1 month',
                       \(amount), 'USD', 'open', 1, \(due)
                FROM subscriptions WHERE id = \(subscription)
                """, logger: Self.logger)
        }
        return invoice
    }

    func invoices(_ tenant: UUID, subscription: UUID) async throws -> [InvoiceRow] {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT id, status, attempt_count, next_attempt_at, period_start, period_end, amount FROM invoices
                WHERE subscription_id = \(subscription) ORDER BY period_start
                """, logger: Self.logger)
            var found: [InvoiceRow] = []
            for try await (id, status, attempts, next, start, end, amount) in rows.decode((UUID, String, Int, Date?, Date, Date, Int64).self) {
                found.append(InvoiceRow(id: id, status: status, attempts: attempts, nextAttemptAt: next, periodStart: start,
                                        periodEnd: end, amount: amount))
            }
            return found
        }
    }

    /// (status, current_period_start, current_period_end, plan_id) of a subscription.
    func subscription(_ tenant: UUID, _ id: UUID) async throws -> (status: String, start: Date, end: Date, plan: UUID) {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT status, current_period_start, current_period_end, plan_id FROM subscriptions WHERE id = \(id)
                """, logger: Self.logger)
            for try await row in rows.decode((String, Date, Date, UUID).self) { return row }
            throw BillingError.unknownSubscription(id)
        }
    }

    /// The attempts of an invoice: (attempt, status, PaymentIntent, decline code).
    func attempts(_ tenant: UUID, invoice: UUID) async throws -> [(attempt: Int, status: String, intent: String?, decline: String?)] {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT attempt, status, payment_intent_id, decline_code FROM payment_attempts
                WHERE invoice_id = \(invoice) ORDER BY attempt
                """, logger: Self.logger)
            var found: [(attempt: Int, status: String, intent: String?, decline: String?)] = []
            for try await row in rows.decode((Int, String, String?, String?).self) { found.append(row) }
            return found
        }
    }

    // MARK: The sandbox

    func sandboxJSON(_ path: String, method: String = "GET", body: String? = nil, form: Bool = false) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: sandboxURL + path)
        request.method = .init(rawValue: method)
        if form {
            request.headers.add(name: "Authorization", value: "Bearer sk_test_sandbox")
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        } else if body != nil {
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await http.execute(request, timeout: .seconds(10))
        let data = Data((try await response.body.collect(upTo: 64 << 20)).readableBytesView)
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    /// How many `POST /v1/payment_intents` calls the sandbox's Stripe answered.
    /// How many times a PaymentIntent was read (`GET /v1/payment_intents/{id}`).
    func intentReads() async throws -> Int {
        let calls = try await sandboxJSON("/_sandbox/calls")["calls"] as? [String: Any] ?? [:]
        return (calls["GET /stripe/v1/payment_intents/{id}"] as? [String: Any])?["count"] as? Int ?? 0
    }

    /// How many `POST /v1/payment_intents/{id}/cancel` calls the sandbox's Stripe answered.
    func paymentIntentCancels() async throws -> Int {
        let calls = try await sandboxJSON("/_sandbox/calls")["calls"] as? [String: Any] ?? [:]
        return (calls["POST /stripe/v1/payment_intents/{id}/cancel"] as? [String: Any])?["count"] as? Int ?? 0
    }

    func paymentIntentCalls() async throws -> Int {
        let calls = try await sandboxJSON("/_sandbox/calls")["calls"] as? [String: Any] ?? [:]
        return (calls["POST /stripe/v1/payment_intents"] as? [String: Any])?["count"] as? Int ?? 0
    }

    /// How many PaymentIntents the sandbox's Stripe holds.
    func paymentIntentsHeld() async throws -> Int {
        let state = try await sandboxJSON("/_sandbox/state")
        return ((state["stripe"] as? [String: Any])?["payment_intents"] as? [Any])?.count ?? -1
    }

    /// The PaymentIntent as Stripe's API answers it, as a webhook would carry it.
    func paymentIntent(_ id: String) async throws -> JSONValue {
        var request = HTTPClientRequest(url: sandboxURL + "/stripe/v1/payment_intents/" + id)
        request.headers.add(name: "Authorization", value: "Bearer sk_test_sandbox")
        let response = try await http.execute(request, timeout: .seconds(10))
        let data = Data((try await response.body.collect(upTo: 1 << 20)).readableBytesView)
        return try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// A Stripe event of `type` around `object`, as the webhook job receives it.
    static func event(_ type: String, _ object: JSONValue) -> WebhookEventArguments {
        let id = "evt_test_" + UUID().uuidString.prefix(12).lowercased()
        return WebhookEventArguments(source: "stripe", eventID: id, type: type,
                                     payload: .object(["id": .string(id), "type": .string(type), "object": .string("event"),
                                                       "data": .object(["object": object])]),
                                     receivedAt: Int64(Date().timeIntervalSince1970 * 1000))
    }

    /// Scripts `times` declines for `customer` (`decline_code`).
    func scriptDecline(customer: String, code: String = "insufficient_funds", times: Int = 1) async throws {
        _ = try await sandboxJSON("/_sandbox/script", method: "POST",
                                  body: "{\"kind\":\"decline\",\"customer\":\"\(customer)\",\"decline_code\":\"\(code)\",\"times\":\(times)}")
    }

    /// Scripts `customer`'s next charge to stay `processing` (a bank debit), with no webhook.
    func scriptProcessing(customer: String) async throws {
        _ = try await sandboxJSON("/_sandbox/script", method: "POST", body: "{\"kind\":\"processing\",\"customer\":\"\(customer)\"}")
    }

    /// Scripts `customer`'s next charge to wait for them (`requires_action`): to authenticate it
    /// (3-D Secure, `use_stripe_sdk`; off-session Stripe declines it instead, 402
    /// `authentication_required`, unless `evenOffSession`), or for a payment they make later (`nextAction`).
    func scriptRequiresAction(customer: String, nextAction: String = "use_stripe_sdk", evenOffSession: Bool = false) async throws {
        _ = try await sandboxJSON("/_sandbox/script", method: "POST",
                                  body: "{\"kind\":\"requires_action\",\"customer\":\"\(customer)\",\"next_action\":\"\(nextAction)\","
                                      + "\"even_off_session\":\(evenOffSession)}")
    }

    /// Scripts the next `times` calls to `endpoint` (`"POST /stripe/v1/…"`) to fail with `status`, before
    /// Stripe runs them (the connector tries a call three times here).
    func scriptFailure(endpoint: String, status: Int, times: Int) async throws {
        _ = try await sandboxJSON("/_sandbox/script", method: "POST",
                                  body: "{\"kind\":\"fail\",\"endpoint\":\"\(endpoint)\",\"status\":\(status),\"times\":\(times)}")
    }

    /// Scripts the next PaymentIntent request to fail with `status`, before Stripe runs it.
    func scriptIntentFailure(status: Int, byProxy: Bool = false) async throws {
        _ = try await sandboxJSON("/_sandbox/script", method: "POST",
                                  body: "{\"kind\":\"fail\",\"endpoint\":\"POST /stripe/v1/payment_intents\",\"status\":\(status),"
                                      + "\"from\":\"\(byProxy ? "proxy" : "service")\"}")
    }

    /// Scripts the next PaymentIntent request to run at Stripe and answer with a body that does not read.
    func scriptIntentGarble() async throws {
        _ = try await sandboxJSON("/_sandbox/script", method: "POST",
                                  body: "{\"kind\":\"garble\",\"endpoint\":\"POST /stripe/v1/payment_intents\"}")
    }

    /// Settles a `processing` PaymentIntent, as the bank's answer would (no webhook: sending is off).
    func settle(intent: String, succeeded: Bool) async throws {
        _ = try await sandboxJSON("/_sandbox/stripe/payment_intents/\(intent)/settle", method: "POST",
                                  body: "{\"status\":\"\(succeeded ? "succeeded" : "failed")\"}")
    }
}

struct MissingValue: Error, CustomStringConvertible {
    let description: String
}

/// `XCTUnwrap` for values that need `await` (XCTUnwrap's autoclosure cannot await).
func unwrap<T>(_ value: T?, _ what: String = "a value", file: StaticString = #filePath, line: UInt = #line) throws -> T {
    guard let value else {
        XCTFail("expected \(what)", file: file, line: line)
        throw MissingValue(description: "expected \(what)")
    }
    return value
}
