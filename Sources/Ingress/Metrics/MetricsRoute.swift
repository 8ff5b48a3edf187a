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

    func register(on router: Router<IngressContext>) {
        router.get("/metrics") { _, _ in
            if queueGauges { await readQueues() }
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
}
