import Foundation
import Histogram
import Jobs
import Logging
import Queue
import Redis
import Store
import Synchronization

/// `cityos bench queue`: bulk enqueue rate, processing rate with reliable fetch, and
/// enqueue→start latency at a steady load, in a namespace of its own (`cityos-bench`).
struct QueueBenchmark {
    let redis: RedisClient
    let jobs: Int
    let concurrency: Int
    /// `diag.noop`, or `diag.record` against this database (one ledger transaction per job).
    let recordInto: Database?
    /// `webhook.stripe` events of a type nobody handles, through the webhook inbox in this database
    /// (stored, then marked ignored: two statements per event) — what the inbox costs a webhook.
    var webhooksInto: Database? = nil
    let logger: Logger
    static let namespace = "cityos-bench"
    static let queue = "bench"

    struct Result: Codable {
        var kind: String
        var jobs: Int
        var concurrency: Int
        var enqueuePerS: Double
        var processedPerS: Double
        var latencyJobs: Int
        var latencyRatePerS: Double
        var latencyP50Ms: Double
        var latencyP99Ms: Double

        enum CodingKeys: String, CodingKey {
            case kind, jobs, concurrency
            case enqueuePerS = "enqueue_per_s"
            case processedPerS = "processed_per_s"
            case latencyJobs = "latency_jobs"
            case latencyRatePerS = "latency_rate_per_s"
            case latencyP50Ms = "latency_p50_ms"
            case latencyP99Ms = "latency_p99_ms"
        }
    }

    func run() async throws -> Result {
        try await clean()
        let probe = LatencyProbe()
        var registry = JobRegistry()
        registry.register(ProbedNoop(probe: probe))
        registry.register(RecordJob(database: recordInto))
        registry.register(StripeWebhookJob(dispatch: WebhookDispatch(), inbox: webhooksInto.map { WebhookInbox(database: $0) }))
        let client = JobClient(redis: redis, registry: registry, namespace: Self.namespace)

        // 1. Bulk enqueue: batches of 1,000, eight batches in flight.
        let enqueueStart = ContinuousClock.now
        try await enqueue(jobs, client: client, stamp: false)
        let enqueueSeconds = (ContinuousClock.now - enqueueStart).seconds

        // 2. Processing everything that waits, with reliable fetch.
        let pool = WorkerPool(redis: redis, registry: registry, configuration: workerConfiguration(), logger: logger)
        let done = Countdown(target: jobs)
        pool.metrics.observeProcessed { done.add($0) }
        let processStart = ContinuousClock.now
        let worker = Task { try await pool.run() }
        await done.wait()
        let processSeconds = (ContinuousClock.now - processStart).seconds
        let processedPerS = Double(jobs) / processSeconds

        // 3. Latency at a steady half of the measured rate (diag.noop only: it carries the stamp).
        let latencyJobs = kind == NoopJob.kind ? min(jobs, 20_000) : 0
        let rate = max(1000, processedPerS / 2)
        let latencyDone = Countdown(target: latencyJobs)
        pool.metrics.observeProcessed { latencyDone.add($0) }
        probe.reset()
        if latencyJobs > 0 {
            try await enqueueSteadily(latencyJobs, perSecond: rate, client: client)
            await latencyDone.wait()
        }
        pool.stop()
        try await worker.value
        try await clean()
        let (p50, p99) = probe.percentiles()
        return Result(kind: kind, jobs: jobs, concurrency: concurrency, enqueuePerS: Double(jobs) / enqueueSeconds,
                      processedPerS: processedPerS, latencyJobs: latencyJobs, latencyRatePerS: rate,
                      latencyP50Ms: p50, latencyP99Ms: p99)
    }

    private func workerConfiguration() -> WorkerConfiguration {
        WorkerConfiguration(queues: [(Self.queue, 1)], concurrency: concurrency, fetchBatch: max(concurrency, 100),
                            namespace: Self.namespace)
    }

    var kind: String { webhooksInto != nil ? StripeWebhookJob.kind : recordInto == nil ? NoopJob.kind : RecordJob.kind }

    private func envelopes(_ count: Int, client: JobClient, stamp: Bool) -> [JobEnvelope] {
        let received = Clock.nowMillis()
        return (0..<count).map { _ in
            if webhooksInto != nil {
                // WebhookEventArguments as the ingress enqueues them, of a type nobody handles.
                let event: JSONValue = .object([
                    "source": .string("stripe"), "event_id": .string("evt_bench_\(UUID().uuidString)"),
                    "type": .string("bench.ignored"), "payload": .object(["object": .string("event")]),
                    "received_at": .number(Double(received)),
                ])
                return client.makeEnvelope(kind: StripeWebhookJob.kind, args: event, options: .init(queue: Self.queue))
            }
            if recordInto != nil {
                return client.makeEnvelope(kind: RecordJob.kind, args: .object(["key": .string("bench")]),
                                           options: .init(queue: Self.queue))
            }
            let args: JSONValue = stamp ? .object(["t": .number(Double(LatencyProbe.nowMicros()))]) : .object([:])
            return client.makeEnvelope(kind: NoopJob.kind, args: args, options: .init(queue: Self.queue))
        }
    }

    private func enqueue(_ count: Int, client: JobClient, stamp: Bool) async throws {
        let batch = 1000
        let parallel = 8
        try await withThrowingTaskGroup(of: Void.self) { group in
            var sent = 0, inFlight = 0
            while sent < count {
                if inFlight == parallel { try await group.next(); inFlight -= 1 }
                let n = min(batch, count - sent)
                // Envelopes are built inside the task, so batches are encoded on every core.
                group.addTask { _ = try await client.enqueueBatch(self.envelopes(n, client: client, stamp: stamp)) }
                sent += n
                inFlight += 1
            }
            try await group.waitForAll()
        }
    }

    private func enqueueSteadily(_ count: Int, perSecond: Double, client: JobClient) async throws {
        let batch = 20
        let interval = Duration.seconds(Double(batch) / perSecond)
        let clock = ContinuousClock()
        var next = clock.now
        var sent = 0
        while sent < count {
            let n = min(batch, count - sent)
            _ = try await client.enqueueBatch(envelopes(n, client: client, stamp: true))
            sent += n
            next += interval
            if next > clock.now { try await clock.sleep(until: next) }
        }
    }

    /// Removes every key of the benchmark's namespace.
    func clean() async throws {
        try await NamespaceCleanup.deleteAll(redis: redis, namespace: Self.namespace)
    }
}

/// `diag.noop` that also records how long each job waited between enqueue and start.
struct ProbedNoop: JobHandler {
    struct Arguments: Codable, Sendable { var t: Int64? }
    static let kind = NoopJob.kind
    static let options = NoopJob.options
    let probe: LatencyProbe
    func run(_ arguments: Arguments, context: JobContext) async throws {
        if let t = arguments.t { probe.record(micros: LatencyProbe.nowMicros() - t) }
    }
}

final class LatencyProbe: Sendable {
    private let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three))

    static func nowMicros() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    func record(micros: Int64) { histogram.withLock { _ = $0.record(UInt64(max(0, micros))) } }
    func reset() { histogram.withLock { $0.reset() } }

    func percentiles() -> (Double, Double) {
        histogram.withLock { h in
            (Double(h.valueAtPercentile(50)) / 1000, Double(h.valueAtPercentile(99)) / 1000)
        }
    }
}

/// Resumes one waiter when `target` units have been added.
final class Countdown: Sendable {
    private struct State { var count = 0; var waiter: CheckedContinuation<Void, Never>? }
    private let state = Mutex(State())
    let target: Int

    init(target: Int) { self.target = target }

    func add(_ n: Int) {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.count += n
            guard s.count >= target else { return nil }
            defer { s.waiter = nil }
            return s.waiter
        }
        c?.resume()
    }

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.count >= target { return true }
                s.waiter = c
                return false
            }
            if now { c.resume() }
        }
    }
}
