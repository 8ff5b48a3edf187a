import Prometheus
import Queue
import Synchronization

/// The process's Prometheus metrics: HTTP requests by route and status, webhooks by source and
/// result, jobs enqueued / processed / failed / dead by queue and kind with duration
/// histograms (fed by the worker pool's `JobEvent`s when it runs in the same process), and
/// queue depths (read from Redis at each scrape). Served at `GET /metrics`.
public final class IngressMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let counters = Mutex<[String: Counter]>([:])
    private let histograms = Mutex<[String: DurationHistogram]>([:])
    /// The gauges read at a scrape, by what they were read from (the queues and checks from Redis,
    /// what the process hands in), each group dropped when its source cannot be read.
    private let readGauges = Mutex<[String: [Gauge]]>([:])

    static let requestBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(500),
        .seconds(1), .seconds(5),
    ]
    static let jobBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
        .milliseconds(500), .seconds(1), .seconds(5), .seconds(15), .seconds(30), .seconds(60), .seconds(300),
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    // MARK: HTTP

    private struct RequestKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }
    private let requestMetrics = Mutex<[RequestKey: (Counter, DurationHistogram)]>([:])

    /// Runs for every request: one dictionary lookup under a lock, then atomic updates.
    func countRequest(route: String, method: String, status: Int, duration: Duration) {
        let (counter, histogram) = requestMetrics(route: route, method: method, status: status)
        counter.increment()
        histogram.record(duration)
    }

    /// `cityos_http_requests_total` and `cityos_http_request_duration_seconds` for one route,
    /// method and status.
    private func requestMetrics(route: String, method: String, status: Int) -> (Counter, DurationHistogram) {
        let key = RequestKey(route: route, method: method, status: status)
        if let pair = requestMetrics.withLock({ $0[key] }) { return pair }
        let pair = (counter("cityos_http_requests_total", help: "HTTP requests by route, method and status.",
                            labels: [("route", route), ("method", method), ("status", String(status))]),
                    histogram("cityos_http_request_duration_seconds", help: "HTTP request duration by route.",
                              labels: [("route", route)], buckets: Self.requestBuckets))
        requestMetrics.withLock { $0[key] = pair }
        return pair
    }

    /// Every counter a delivery the webhook fast path accepts touches, found once per source:
    /// the fast path answers tens of thousands of requests a second, and then each costs a few
    /// atomic increments instead of as many locked lookups. The same series as the router's.
    struct WebhookAnswerCounters: Sendable {
        let accepted: Counter
        let duplicate: Counter
        let enqueued: Counter
        let answeredOnLoop: Counter
        let requests: Counter
        let duration: DurationHistogram

        /// A delivery answered 202: new (`created`) or the first one's again.
        func count(created: Bool, elapsed: Duration) {
            if created {
                accepted.increment()
                enqueued.increment()
            } else {
                duplicate.increment()
            }
            answeredOnLoop.increment()
            requests.increment()
            duration.record(elapsed)
        }
    }

    func webhookAnswerCounters(source: String, queue: String, kind: String, route: String) -> WebhookAnswerCounters {
        let (requests, duration) = requestMetrics(route: route, method: "POST", status: 202)
        return WebhookAnswerCounters(accepted: webhookCounter(source: source, result: "accepted"),
                                     duplicate: webhookCounter(source: source, result: "duplicate"),
                                     enqueued: enqueuedCounter(queue: queue, kind: kind),
                                     answeredOnLoop: webhookPathCounter(source: source, path: "event_loop"),
                                     requests: requests, duration: duration)
    }

    private struct PairKey: Hashable {
        var name: Int
        var first: String
        var second: String
    }
    private let pairCounters = Mutex<[PairKey: Counter]>([:])

    /// `result`: accepted, duplicate or rejected.
    func countWebhook(source: String, result: String) {
        webhookCounter(source: source, result: result).increment()
    }

    private func webhookCounter(source: String, result: String) -> Counter {
        pairCounter(0, "cityos_webhooks_total", "Webhook deliveries by source and result (accepted, duplicate, rejected).",
                    ("source", source), ("result", result))
    }

    /// What became of a webhook event in a worker of this process (its inbox status: processed,
    /// ignored or failed), by source.
    public func countWebhookOutcome(source: String, outcome: String) {
        pairCounter(2, "cityos_webhook_events_total", "Webhook events handled, by source and outcome (processed, ignored, failed).",
                    ("source", source), ("outcome", outcome)).increment()
    }

    /// Where a delivery was answered: `event_loop` (`WebhookFastPath`, accepted on the I/O thread)
    /// or `router` (everything else: refusals, Redis trouble, the fast path switched off).
    func countWebhookPath(source: String, path: String) {
        webhookPathCounter(source: source, path: path).increment()
    }

    private func webhookPathCounter(source: String, path: String) -> Counter {
        pairCounter(3, "cityos_webhooks_answered_total",
                    "Webhook deliveries by source and where they were answered (event_loop: the fast path; router).",
                    ("source", source), ("path", path))
    }

    func countEnqueued(queue: String, kind: String) {
        enqueuedCounter(queue: queue, kind: kind).increment()
    }

    private func enqueuedCounter(queue: String, kind: String) -> Counter {
        pairCounter(1, "cityos_jobs_enqueued_total", "Jobs this process's HTTP API and webhooks enqueued, by queue and kind (the status's enqueued counts every enqueue).",
                    ("queue", queue), ("kind", kind))
    }

    /// A counter with two labels, cached by a cheap key (the per-request path).
    private func pairCounter(_ id: Int, _ name: String, _ help: String,
                             _ first: (String, String), _ second: (String, String)) -> Counter {
        let key = PairKey(name: id, first: first.1, second: second.1)
        if let counter = pairCounters.withLock({ $0[key] }) { return counter }
        let counter = counter(name, help: help, labels: [first, second])
        pairCounters.withLock { $0[key] = counter }
        return counter
    }

    // MARK: Jobs (from the worker pool in the same process)

    /// Pass as the worker pool's `observer` to count its jobs' outcomes.
    public func observe(_ event: JobEvent) {
        switch event {
        case .started, .interrupted:
            return
        case .succeeded(let job, let seconds):
            jobCounter("cityos_jobs_processed_total", "Jobs that succeeded, by queue and kind.", job.queue, job.kind).increment()
            histogram("cityos_job_duration_seconds", help: "Duration of successful job runs, by queue and kind.",
                      labels: [("queue", job.queue), ("kind", job.kind)], buckets: Self.jobBuckets)
                .record(.nanoseconds(Int64(seconds * 1e9)))
        case .retrying(let job, _, _):
            jobCounter("cityos_jobs_failed_total", "Failed job attempts (retried or dead), by queue and kind.", job.queue, job.kind).increment()
        case .dead(let job, _):
            jobCounter("cityos_jobs_failed_total", "Failed job attempts (retried or dead), by queue and kind.", job.queue, job.kind).increment()
            jobCounter("cityos_jobs_dead_total", "Jobs moved to the dead letters, by queue and kind.", job.queue, job.kind).increment()
        }
    }

    private func jobCounter(_ name: String, _ help: String, _ queue: String, _ kind: String) -> Counter {
        counter(name, help: help, labels: [("queue", queue), ("kind", kind)])
    }

    // MARK: Queues (at scrape time)

    /// Sets the gauges read from Redis (queues, and the platform checks) from a status read. A
    /// queue or check the read no longer lists leaves no series behind.
    func record(_ status: QueueStatus) {
        var readings: [GaugeReading] = []
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
            readings.append(GaugeReading(name, help, labels.map { GaugeReading.Label($0.0, $0.1) }, value))
        }
        for queue in status.queues {
            for (state, value) in [("ready", queue.ready), ("in_flight", queue.inFlight),
                                   ("delayed", queue.delayed), ("dead", queue.dead)] {
                gauge("cityos_queue_depth", "Jobs per queue and state.", [("queue", queue.name), ("state", state)], Double(value))
            }
            gauge("cityos_queue_dead_dropped", "Dead letters dropped by the cap, per queue.", [("queue", queue.name)],
                  Double(queue.deadDropped))
            gauge("cityos_queue_oldest_ready_age_seconds", "Age of the oldest ready job, per queue.", [("queue", queue.name)],
                  queue.oldestReadyAgeSeconds ?? 0)
            gauge("cityos_queue_workers", "Live worker processes that take the queue (0 with jobs waiting: nothing runs them).",
                  [("queue", queue.name)], Double(queue.workers))
            gauge("cityos_queue_paused", "1 while an operator has paused the queue: no new job is taken from it.",
                  [("queue", queue.name)], queue.paused ? 1 : 0)
            gauge("cityos_queue_longest_running_seconds",
                  "How long the queue's longest-running job has run (0: none runs), as its worker process last published.",
                  [("queue", queue.name)], queue.longestRunningSeconds ?? 0)
        }
        for check in status.checks ?? [] {
            gauge("cityos_check_ok", "1 if the platform check's latest run found no mismatch.", [("check", check.name)],
                  check.ok ? 1.0 : 0.0)
            for (invariant, count) in check.invariants {
                gauge("cityos_check_mismatches", "Mismatches the platform check's latest run found, per invariant.",
                      [("check", check.name), ("invariant", invariant)], Double(count))
            }
        }
        setReadGauges(Self.redisGroup, readings)
    }

    /// The group of gauges read from Redis's queue status.
    static let redisGroup = "redis"

    /// Sets one group's gauges read at this scrape; a series the group had at the last scrape and
    /// not now is removed, not left at its last value.
    /// Under one lock with ``dropReadGauges(_:)``, so that two scrapes at once cannot unregister a
    /// gauge the other has just set.
    func setReadGauges(_ group: String, _ readings: [GaugeReading]) {
        readGauges.withLock { held in
            let fresh = readings.map { reading in
                let gauge = registry.makeGauge(descriptor: Self.descriptor(reading.name, reading.help),
                                               labels: reading.labels.map { ($0.name, $0.value) })
                gauge.set(to: reading.value)
                return gauge
            }
            let keep = Set(fresh.map(ObjectIdentifier.init))
            for gauge in held[group] ?? [] where !keep.contains(ObjectIdentifier(gauge)) { registry.unregisterGauge(gauge) }
            held[group] = fresh
        }
    }

    /// Drops one group's gauges read at a scrape: when their source cannot be read, a value of the
    /// last scrape served as if current would show a queue calm while it backs up. Without the
    /// series, Prometheus marks them stale, and the group's `…_up` gauge says why.
    func dropReadGauges(_ group: String = IngressMetrics.redisGroup) {
        readGauges.withLock { held in
            for gauge in held.removeValue(forKey: group) ?? [] { registry.unregisterGauge(gauge) }
        }
    }

    /// A 0/1 gauge saying whether a scrape could read a source.
    func recordUp(_ name: String, _ help: String, _ up: Bool) {
        registry.makeGauge(descriptor: Self.descriptor(name, help)).set(to: up ? 1.0 : 0.0)
    }

    func recordRedisUp(_ up: Bool) {
        recordUp("cityos_redis_up", "1 if the last scrape could read Redis.", up)
    }

    /// The Prometheus text exposition.
    func exposition() -> [UInt8] { registry.emitToBuffer() }

    // MARK: Cache

    private func counter(_ name: String, help: String, labels: [(String, String)]) -> Counter {
        let key = Self.key(name, labels)
        if let counter = counters.withLock({ $0[key] }) { return counter }
        let counter = registry.makeCounter(descriptor: Self.descriptor(name, help), labels: labels)
        counters.withLock { $0[key] = counter }
        return counter
    }

    private func histogram(_ name: String, help: String, labels: [(String, String)], buckets: [Duration]) -> DurationHistogram {
        let key = Self.key(name, labels)
        if let histogram = histograms.withLock({ $0[key] }) { return histogram }
        let histogram = registry.makeDurationHistogram(descriptor: Self.descriptor(name, help), labels: labels, buckets: buckets)
        histograms.withLock { $0[key] = histogram }
        return histogram
    }

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        labels.reduce(name) { $0 + "\u{1f}" + $1.0 + "=" + $1.1 }
    }

    /// Full names are given whole (`cityos_…_total`): the descriptor only carries name and help.
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
