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
                let redisUp = await readQueues()
                if let handedIn { await read(handedIn, redisUp: redisUp) }
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
    }

    /// Returns whether Redis could be read.
    private func readQueues() async -> Bool {
        do {
            let status = try await QueueStatus.read(redis: redis, namespace: namespace)
            metrics.record(status)
            metrics.recordRedisUp(true)
            return true
        } catch {
            metrics.dropReadGauges()
            metrics.recordRedisUp(false)
            return false
        }
    }

    /// With Redis down the handed-in gauges (which read Redis too) are not read: a second wait for
    /// Redis's timeout could outlast the scraper's, and the scrape that says Redis is down be lost.
    private func read(_ handedIn: HandedInGauges, redisUp: Bool) async {
        guard redisUp, let readings = try? await handedIn.read() else {
            metrics.dropReadGauges(handedIn.group)
            metrics.recordUp(handedIn.upGauge, handedIn.upHelp, false)
            return
        }
        metrics.setReadGauges(handedIn.group, readings)
        metrics.recordUp(handedIn.upGauge, handedIn.upHelp, true)
    }
}
