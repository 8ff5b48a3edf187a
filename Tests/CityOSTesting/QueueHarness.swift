import Foundation
import Jobs
import Logging
import Queue
import Redis
import Synchronization
import XCTest

/// A queue engine of the test's own: a namespace nobody else uses on the test Redis, a
/// client to enqueue with, worker pools in this process, and ways to read the queue's state.
public final class QueueHarness: Sendable {
    public let namespace: String
    public let redis: RedisClient
    public let registry: JobRegistry
    public let events = EventLog()

    /// - Parameter redisURL: where Redis is; the test Redis over TCP by default.
    public init(registry: JobRegistry = JobCatalog.registry(), label: String = "q", redisURL: String? = nil) throws {
        self.namespace = TestEnvironment.uniqueNamespace(label)
        if let redisURL {
            self.redis = RedisClient(.init(endpoint: try RedisEndpoint(url: redisURL), connections: 4))
        } else {
            self.redis = try TestEnvironment.redis(connections: 4)
        }
        self.registry = registry
    }

    public var client: JobClient { JobClient(redis: redis, registry: registry, namespace: namespace) }
    public var deadLetters: DeadLetters { DeadLetters(redis: redis, namespace: namespace) }

    public func status() async throws -> QueueStatus { try await QueueStatus.read(redis: redis, namespace: namespace) }

    public func queue(_ name: String) async throws -> QueueStatus.Queue? {
        try await status().queues.first { $0.name == name }
    }

    /// A worker pool in this process, recording its events in `events`.
    public func makePool(queues: [(name: String, weight: Int)] = [("default", 1)], concurrency: Int = 8,
                         grace: Duration = .seconds(5), heartbeatTTL: Duration = .seconds(2),
                         deadLetterCap: Int = 1000, abandonGrace: Duration = .seconds(900),
                         unknownKindPatience: Duration = .seconds(3600), registry: JobRegistry? = nil) -> WorkerPool {
        var configuration = WorkerConfiguration(queues: queues, concurrency: concurrency, heartbeatTTL: heartbeatTTL,
                                                shutdownGrace: grace, deadLetterCap: deadLetterCap,
                                                promoteInterval: .milliseconds(50), namespace: namespace)
        configuration.abandonGrace = abandonGrace
        configuration.unknownKindPatience = unknownKindPatience
        configuration.unknownKindRetake = .milliseconds(200)
        let events = self.events
        return WorkerPool(redis: redis, registry: registry ?? self.registry, configuration: configuration,
                          logger: TestEnvironment.logger,
                          observer: { events.append($0) })
    }

    /// Runs `body` with a pool working in the background, then stops it and waits for it.
    public func withPool<T>(queues: [(name: String, weight: Int)] = [("default", 1)], concurrency: Int = 8,
                            _ body: (WorkerPool) async throws -> T) async throws -> T {
        let pool = makePool(queues: queues, concurrency: concurrency)
        let task = Task { try await pool.run() }
        do {
            let result = try await body(pool)
            pool.stop()
            try await task.value
            return result
        } catch {
            pool.stop()
            _ = try? await task.value
            throw error
        }
    }

    /// Environment for a `cityos` child process working on this harness's namespace.
    public func childEnvironment(_ extra: [String: String] = [:]) throws -> [String: String] {
        var env = ["CITYOS_REDIS_URL": try TestEnvironment.redisURL(), "CITYOS_REDIS_NAMESPACE": namespace,
                   "CITYOS_LOG_LEVEL": "info"]
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Deletes every key of this namespace.
    public func clean() async throws {
        try await NamespaceCleanup.deleteAll(redis: redis, namespace: namespace)
    }
}

/// Every `JobEvent` a pool reported, with the time it arrived.
public final class EventLog: Sendable {
    public struct Entry: Sendable {
        public let event: JobEvent
        public let at: ContinuousClock.Instant
        public let wallMillis: Int64
    }
    private let entries = Mutex<[Entry]>([])

    public init() {}

    public func append(_ event: JobEvent) {
        let entry = Entry(event: event, at: .now, wallMillis: Clock.nowMillis())
        entries.withLock { $0.append(entry) }
    }

    public var all: [Entry] { entries.withLock { $0 } }

    public func starts(of id: String) -> [Entry] {
        all.filter { if case .started(let e) = $0.event { return e.id == id } else { return false } }
    }

    public func succeeded(_ id: String) -> Bool {
        all.contains { if case .succeeded(let e, _) = $0.event { return e.id == id } else { return false } }
    }

    public func deadReason(_ id: String) -> String? {
        for entry in all { if case .dead(let e, let reason) = entry.event, e.id == id { return reason } }
        return nil
    }

    /// When each retry of `id` was set for (ms since the epoch), and when it was set.
    public func retries(of id: String) -> [(dueAt: Int64, setAt: Int64)] {
        all.compactMap { entry in
            if case .retrying(let e, _, let due) = entry.event, e.id == id { return (due, entry.wallMillis) }
            return nil
        }
    }

    public var succeededIDs: [String] {
        all.compactMap { if case .succeeded(let e, _) = $0.event { return e.id } else { return nil } }
    }
}
