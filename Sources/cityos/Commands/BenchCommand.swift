import ArgumentParser
import Foundation

/// `cityos bench queue …`: measures the queue engine against the configured Redis.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks.", subcommands: [QueueBench.self])

    struct QueueBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "queue",
            abstract: "Bulk enqueue, processing with reliable fetch, and enqueue→start latency for diag.noop.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Jobs to enqueue and process.") var jobs: Int = 200_000
        @Option(help: "Jobs running at once.") var concurrency: Int = 64
        @Option(help: "Job kind (diag.noop).") var kind: String = "diag.noop"
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            guard kind == "diag.noop" else { throw ValidationError("bench queue supports --kind diag.noop") }
            guard jobs > 0, concurrency > 0 else { throw ValidationError("--jobs and --concurrency must be positive") }
        }

        func run() async throws {
            let platform = try Platform.load(global, label: "cityos.bench")
            var logger = platform.logger
            logger.logLevel = .warning
            let bench = QueueBenchmark(redis: platform.redis, jobs: jobs, concurrency: concurrency, logger: logger)
            let result = try await bench.run()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                print(String(format: "enqueue:   %.0f jobs/s (%d jobs, batches of 1000)", result.enqueuePerS, result.jobs))
                print(String(format: "processed: %.0f jobs/s (concurrency %d, reliable fetch)", result.processedPerS, result.concurrency))
                print(String(format: "latency:   p50 %.2f ms, p99 %.2f ms (enqueue→start, %d jobs at %.0f/s)",
                             result.latencyP50Ms, result.latencyP99Ms, result.latencyJobs, result.latencyRatePerS))
            }
            platform.redis.shutdown()
        }
    }
}
