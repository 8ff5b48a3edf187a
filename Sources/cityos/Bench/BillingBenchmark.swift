import Config
import Connectors
import Foundation
import Jobs
import Logging
import PostgresNIO
import Queue
import Redis
import Sandbox
import Store

/// `cityos bench billing`: one billing cycle over N due subscriptions of one tenant, the way
/// production runs it — `billing.cycle` through Redis, its fan-out through the outbox relay, N
/// `billing.invoice` jobs on a worker pool, each one invoice, one PaymentIntent at an in-process
/// sandbox Stripe over HTTP, and the payment booked — timed from the cycle's enqueue until every
/// invoice is paid. In a Redis namespace of its own (`cityos-bench-billing`, deleted after) and a
/// fresh tenant each run, on a manual billing clock.
struct BillingBenchmark {
    struct Result: Codable {
        var subscriptions: Int
        var concurrency: Int
        var seconds: Double
        var invoicesPerS: Double
        var invoices: Int
        var paymentIntents: Int
        var fanOutSeconds: Double
        /// The baseline, in the same run: as many off-session charges made straight through the
        /// Stripe connector at the same sandbox and concurrency, with no job, queue or database —
        /// the ceiling the outside call sets.
        var chargesOnlyPerS: Double

        enum CodingKeys: String, CodingKey {
            case subscriptions, concurrency, seconds, invoices
            case invoicesPerS = "invoices_per_s"
            case paymentIntents = "payment_intents"
            case fanOutSeconds = "fan_out_seconds"
            case chargesOnlyPerS = "charges_only_per_s"
        }
    }

    static let namespace = "cityos-bench-billing"
    let config: CityOSConfig
    let redis: RedisClient
    let database: Database
    let subscriptions: Int
    let concurrency: Int
    let logger: Logger

    func run() async throws -> Result {
        try await NamespaceCleanup.deleteAll(redis: redis, namespace: Self.namespace)
        var quiet = logger
        quiet.logLevel = .critical
        let sandbox = SandboxServer(configuration: SandboxConfiguration(port: 0, sendWebhooks: false), logger: quiet)
        let sandboxTask = Task { try await sandbox.run() }
        defer { sandbox.stop() }
        var environment = ProcessInfo.processInfo.environment
        environment["CITYOS_SANDBOX_URL"] = try await sandbox.baseURL()
        environment["CITYOS_STRIPE_URL"] = nil
        environment["CITYOS_STRIPE_SECRET_KEY"] = environment["CITYOS_STRIPE_SECRET_KEY"] ?? "sk_test_bench"
        let connectors = Connectors(config: try CityOSConfig.load(environment: environment), redis: nil,
                                    namespace: Self.namespace, logger: quiet)
        let clock = JobClock.manual(at: Date())
        let tenant = try await makeSubscriptions(at: clock.now())
        let registry = JobCatalog.registry(database: database, connectors: connectors, clock: clock)
        let client = JobClient(redis: redis, registry: registry, namespace: Self.namespace)
        let relay = OutboxRelay(database: database, batchSize: 1_000, pollInterval: .milliseconds(50),
                                sink: OutboxRelay.queueSink(client))
        let pool = WorkerPool(redis: redis, registry: registry,
                              configuration: WorkerConfiguration(queues: [("billing", 1)], concurrency: concurrency,
                                                                 fetchBatch: max(concurrency, 100), namespace: Self.namespace),
                              logger: quiet)
        let relayTask = Task { await relay.run() }
        let poolTask = Task { try await pool.run() }
        let started = ContinuousClock.now
        try await client.enqueue(BillingCycleJob.self, .init(tenantID: tenant))
        var fanOut: Duration?
        while try await count(tenant, "SELECT count(*) FROM invoices WHERE status = 'paid'") < subscriptions {
            if fanOut == nil, try await count(tenant, "SELECT count(*) FROM invoices") > 0 { fanOut = ContinuousClock.now - started }
            if ContinuousClock.now - started > .seconds(1_800) { throw BenchmarkTimeout() }
            try await Task.sleep(for: .milliseconds(20))
        }
        let elapsed = ContinuousClock.now - started
        pool.stop()
        _ = try? await poolTask.value
        relayTask.cancel()
        await relayTask.value
        let invoices = try await count(tenant, "SELECT count(*) FROM invoices")
        let intents = try await count(tenant, "SELECT count(DISTINCT payment_intent_id) FROM payment_attempts")
        let baseline = try await chargesOnly(connectors.stripe)
        await connectors.shutdown()
        sandbox.stop()
        _ = await sandboxTask.result
        try await NamespaceCleanup.deleteAll(redis: redis, namespace: Self.namespace)
        return Result(subscriptions: subscriptions, concurrency: concurrency, seconds: elapsed.seconds,
                      invoicesPerS: Double(subscriptions) / elapsed.seconds, invoices: invoices, paymentIntents: intents,
                      fanOutSeconds: (fanOut ?? elapsed).seconds,
                      chargesOnlyPerS: Double(subscriptions) / baseline.seconds)
    }

    /// `subscriptions` off-session charges through the connector, `concurrency` at a time.
    private func chargesOnly(_ stripe: StripeConnector) async throws -> Duration {
        let total = subscriptions
        let width = concurrency
        let run = UUID().uuidString.lowercased()
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func charge(_ index: Int) {
                group.addTask {
                    _ = try await stripe.chargeOffSession(
                        amount: Money(minorUnits: 1999, currency: "USD"), customer: "cus_bench_\(index)",
                        paymentMethod: "pm_card_visa", idempotencyKey: "bench_\(run)_\(index)")
                }
            }
            while next < min(width, total) { charge(next); next += 1 }
            while try await group.next() != nil, next < total { charge(next); next += 1 }
            try await group.waitForAll()
        }
        return ContinuousClock.now - started
    }

    /// A fresh tenant with one monthly plan and `subscriptions` subscriptions due at `now`.
    private func makeSubscriptions(at now: Date) async throws -> UUID {
        let tenant = UUID()
        let plan = UUID()
        let logger = self.logger
        let count = subscriptions
        try await database.withTenant(tenant) { connection in
            try await connection.query("""
                INSERT INTO tenants (id, slug, name) VALUES (\(tenant), \("bench-" + tenant.uuidString.lowercased()), 'Billing bench')
                """, logger: logger)
            try await connection.query("""
                INSERT INTO plans (tenant_id, id, code, name, amount, currency, interval_unit)
                VALUES (\(tenant), \(plan), 'bench', 'Bench plan', 1999, 'USD', 'month')
                """, logger: logger)
            try await connection.query("""
                INSERT INTO subscriptions (tenant_id, id, customer_id, payment_method, plan_id, current_period_start, current_period_end)
                SELECT \(tenant), gen_random_uuid(), 'cus_bench_' || n, 'pm_card_visa', \(plan), \(now), \(now)
                FROM generate_series(1, \(count)) AS n
                """, logger: logger)
        }
        return tenant
    }

    private func count(_ tenant: UUID, _ sql: String) async throws -> Int {
        let logger = self.logger
        return try await database.withTenant(tenant) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT (\(sql))::int8"), logger: logger)
            for try await value in rows.decode(Int64.self) { return Int(value) }
            return 0
        }
    }
}

struct BenchmarkTimeout: Error, CustomStringConvertible {
    var description: String { "the billing cycle did not finish within 30 minutes" }
}
