import Foundation
import Logging
import Redis

/// Tells the others this process is alive, and returns the jobs of processes that are not.
/// Each beat refreshes a key that expires after the heartbeat TTL; a process whose key has
/// expired (killed, out of memory, host lost) has its in-flight jobs put back at the head of
/// their queues by whichever live process notices first.
struct Heartbeat: Sendable {
    let redis: RedisClient
    let configuration: WorkerConfiguration
    let slots: Slots
    /// What the process runs, published with every beat for operators (`RunningNow`).
    let running: RunningJobs
    let startedAt: Int64
    let logger: Logger

    var keys: GlobalKeys { GlobalKeys(namespace: configuration.namespace) }

    /// Beats every third of the TTL and recovers dead processes, until cancelled.
    func run() async {
        while !Task.isCancelled {
            do {
                try await beat()
                try await recoverDeadProcesses()
            } catch {
                logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: configuration.heartbeatTTL / 3)
        }
    }

    /// Registers or refreshes this process, with the jobs it runs now.
    func beat() async throws {
        let id = configuration.processID
        let ttlMillis = Int(configuration.heartbeatTTL.seconds * 1000)
        let queues = configuration.queues.map { "\($0.name):\($0.weight)" }.joined(separator: ",")
        let now = Clock.nowMillis()
        var commands = [
            RedisCommand("HSET", [.string(keys.process(id)),
                                  "host", .string(ProcessInfo.processInfo.hostName),
                                  "pid", .int(Int(getpid())),
                                  "started_at", .int64(startedAt),
                                  "beat_at", .int64(now),
                                  "queues", .string(queues),
                                  "concurrency", .int(configuration.concurrency),
                                  "busy", .int(slots.busy),
                                  "running", .string(RunningNow.published(running.snapshot()))]),
            RedisCommand("PEXPIRE", .string(keys.process(id)), .int(ttlMillis)),
            RedisCommand("ZADD", .string(keys.processes), .int64(now), .string(id)),
        ]
        commands += configuration.queues.map { RedisCommand("SADD", .string(keys.queues), .string($0.name)) }
        for reply in try await redis.pipeline(commands) { try reply.unwrapped() }
    }

    /// Finds registered processes whose heartbeat key has expired and requeues their jobs.
    /// Safe to run in every process at once: each requeue is atomic, a second finds nothing.
    @discardableResult
    func recoverDeadProcesses() async throws -> Int {
        let members = try await redis.send("ZRANGE", .string(keys.processes), 0, -1).array ?? []
        let others = members.compactMap(\.string).filter { $0 != configuration.processID }
        guard !others.isEmpty else { return 0 }
        let alive = try await redis.pipeline(others.map { RedisCommand("EXISTS", .string(keys.process($0))) })
        let dead = zip(others, alive).filter { $0.1.int == 0 }.map(\.0)
        guard !dead.isEmpty else { return 0 }
        let queues = (try await redis.send("SMEMBERS", .string(keys.queues)).array ?? []).compactMap(\.string)
        var recovered = 0
        for process in dead {
            for queue in queues {
                let q = QueueKeys(queue: queue, namespace: configuration.namespace)
                let n = try await redis.run(QueueScripts.requeue, keys: OutcomeRecorder.requeueKeys(q, process: process),
                                            arguments: [.string(q.prefix)]).int ?? 0
                recovered += n
            }
            try await redis.send("ZREM", .string(keys.processes), .string(process))
            logger.notice("recovered a dead worker process", metadata: ["process": "\(process)", "jobs": "\(recovered)"])
        }
        return recovered
    }

    /// Removes this process from the registry (after its jobs are acknowledged or returned).
    func deregister() async throws {
        try await redis.pipeline([
            RedisCommand("DEL", .string(keys.process(configuration.processID))),
            RedisCommand("ZREM", .string(keys.processes), .string(configuration.processID)),
        ])
    }
}
