import ArgumentParser
import Foundation

/// `cityos bench queue …`: measures the queue engine against the configured Redis;
/// `cityos bench billing …`: a billing cycle against an in-process sandbox Stripe;
/// `cityos bench http …`: load on a running ingress (`HTTPLoad`).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks.", subcommands: [QueueBench.self, BillingBench.self, HTTPBench.self, FrameworkServer.self])

    struct QueueBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "queue",
            abstract: "Bulk enqueue, processing with reliable fetch, and enqueue→start latency for diag.noop.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Jobs to enqueue and process.") var jobs: Int = 200_000
        @Option(help: "Jobs running at once.") var concurrency: Int = 64
        @Option(help: """
            Job kind: diag.noop; diag.record (a PostgreSQL transaction through the ledger per job); or \
            webhook.stripe (events of an unhandled type through the webhook inbox: stored, then marked ignored).
            """)
        var kind: String = "diag.noop"
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            guard ["diag.noop", "diag.record", "webhook.stripe"].contains(kind) else {
                throw ValidationError("bench queue supports --kind diag.noop, diag.record or webhook.stripe")
            }
            guard jobs > 0, concurrency > 0 else { throw ValidationError("--jobs and --concurrency must be positive") }
        }

        func run() async throws {
            let platform = try Platform.load(global, label: "cityos.bench")
            var logger = platform.logger
            logger.logLevel = .warning
            let record = kind == "diag.record", webhooks = kind == "webhook.stripe"
            let stopStore: (@Sendable () async -> Void)? = record || webhooks ? platform.startStoreServices() : nil
            var bench = QueueBenchmark(redis: platform.redis, jobs: jobs, concurrency: concurrency,
                                       recordInto: record ? platform.database : nil, logger: logger)
            bench.webhooksInto = webhooks ? platform.database : nil
            let result = try await bench.run()
            await stopStore?()
            if json {
                try printJSONLine(result)
            } else {
                print("kind:      \(result.kind)")
                print(String(format: "enqueue:   %.0f jobs/s (%d jobs, batches of 1000)", result.enqueuePerS, result.jobs))
                print(String(format: "processed: %.0f jobs/s (concurrency %d, reliable fetch)", result.processedPerS, result.concurrency))
                print(String(format: "latency:   p50 %.2f ms, p99 %.2f ms (enqueue→start, %d jobs at %.0f/s)",
                             result.latencyP50Ms, result.latencyP99Ms, result.latencyJobs, result.latencyRatePerS))
            }
            platform.redis.shutdown()
        }
    }

    struct BillingBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "billing",
            abstract: "One billing cycle over N due subscriptions: invoices, PaymentIntents at a sandbox Stripe, payments booked.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Due subscriptions to invoice and charge.") var subscriptions: Int = 10_000
        @Option(help: "billing.invoice jobs running at once.") var concurrency: Int = 32
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            guard subscriptions > 0, concurrency > 0 else { throw ValidationError("--subscriptions and --concurrency must be positive") }
        }

        func run() async throws {
            let platform = try Platform.load(global, label: "cityos.bench")
            var logger = platform.logger
            logger.logLevel = .warning
            let stopDatabase = platform.startDatabasePool()
            let bench = BillingBenchmark(config: platform.config, redis: platform.redis, database: platform.database,
                                         subscriptions: subscriptions, concurrency: concurrency, logger: logger)
            let result: BillingBenchmark.Result
            do { result = try await bench.run() } catch {
                await stopDatabase()
                throw error
            }
            await stopDatabase()
            if json {
                try printJSONLine(result)
            } else {
                print(String(format: "billing cycle: %d subscriptions in %.2f s = %.0f invoices/s (concurrency %d)",
                             result.subscriptions, result.seconds, result.invoicesPerS, result.concurrency))
                print("invoices: \(result.invoices), PaymentIntents: \(result.paymentIntents)")
            }
            platform.redis.shutdown()
        }
    }
}
