import Foundation
import Jobs
import Logging
import Queue

/// Runs a real worker pool on one queue of the harness's namespace until a number of job
/// outcomes have been observed (bounded in time), then stops it gracefully.
enum WorkerRun {
    struct TimedOut: Error, CustomStringConvertible {
        let description: String
    }

    static func untilProcessed(_ count: Int, harness: IngressHarness, queue: String) async throws -> Int {
        try await until(count, harness: harness, queue: queue) {
            if case .succeeded = $0 { return true } else { return false }
        }
    }

    static func untilDead(_ count: Int, harness: IngressHarness, queue: String) async throws -> Int {
        try await until(count, harness: harness, queue: queue) {
            if case .dead = $0 { return true } else { return false }
        }
    }

    static func until(_ count: Int, harness: IngressHarness, queue: String, seconds: Int = 15,
                      counting matches: @escaping @Sendable (JobEvent) -> Bool) async throws -> Int {
        let (events, continuation) = AsyncStream.makeStream(of: JobEvent.self)
        var logger = Logger(label: "worker-test")
        logger.logLevel = .critical
        var configuration = WorkerConfiguration(queues: [(queue, 1)], concurrency: 4, shutdownGrace: .seconds(2),
                                                namespace: harness.queue.namespace)
        configuration.unknownKindPatience = .zero   // the tests' kinds no worker knows: dead letters at once
        let pool = WorkerPool(redis: harness.queue.redis, registry: JobCatalog.registry(), configuration: configuration,
                              logger: logger, observer: { continuation.yield($0) })
        let running = Task { try await pool.run() }
        defer { pool.stop() }
        let seen = await withTaskGroup(of: Int?.self) { group in
            group.addTask {
                var seen = 0
                for await event in events where matches(event) {
                    seen += 1
                    if seen == count { return seen }
                }
                return seen
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            continuation.finish()
            return first
        }
        pool.stop()
        try await Bounded.wait("the worker pool to stop", seconds: 15) { try await running.value }
        guard let seen else {
            throw TimedOut(description: "fewer than \(count) matching job outcomes on '\(queue)' within \(seconds) s")
        }
        return seen
    }
}
