import Hummingbird
import Queue
import Redis

/// `GET /metrics`: Prometheus text. Queue depths are read from Redis at each scrape; if Redis
/// cannot be read, the rest is still served, `cityos_redis_up` is 0, and the gauges read from
/// Redis are left out (not last scrape's values, served as if current). A worker's metrics port
/// (`queueGauges` false) serves its own jobs' metrics only: the queues' gauges are the same for
/// every process, and summed over every worker's target they would count each job many times.
struct MetricsRoute: Sendable {
    let metrics: IngressMetrics
    let redis: RedisClient
    let namespace: String
    var queueGauges = true
    /// Gauges the process hands in (the schedules'), read at each scrape with the queues'.
    var handedIn: HandedInGauges? = nil

    func register(on router: Router<IngressContext>) {
        router.get("/metrics") { _, _ in
            if queueGauges {
                await readQueues()
                if let handedIn { await read(handedIn) }
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
    }

    private func readQueues() async {
        do {
            let status = try await QueueStatus.read(redis: redis, namespace: namespace)
            metrics.record(status)
            metrics.recordRedisUp(true)
        } catch {
            metrics.dropReadGauges()
            metrics.recordRedisUp(false)
        }
    }

    private func read(_ handedIn: HandedInGauges) async {
        do {
            metrics.setReadGauges(handedIn.group, try await handedIn.read())
            metrics.recordUp(handedIn.upGauge, handedIn.upHelp, true)
        } catch {
            metrics.dropReadGauges(handedIn.group)
            metrics.recordUp(handedIn.upGauge, handedIn.upHelp, false)
        }
    }
}

/// Gauges a process hands the ingress to serve at `GET /metrics`, read at each scrape (the
/// schedules': the ingress knows no scheduler). When `read` throws, its gauges are left out and
/// `upGauge` is 0.
public struct HandedInGauges: Sendable {
    public var group: String
    public var upGauge: String
    public var upHelp: String
    public var read: @Sendable () async throws -> [GaugeReading]

    public init(group: String, upGauge: String, upHelp: String, read: @escaping @Sendable () async throws -> [GaugeReading]) {
        self.group = group
        self.upGauge = upGauge
        self.upHelp = upHelp
        self.read = read
    }
}
