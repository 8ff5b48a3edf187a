import Foundation
import Logging
import Redis
import Synchronization

/// Tells the others this process is alive, and returns the jobs of processes that are not.
/// Each beat refreshes a key that expires after the heartbeat TTL; a process whose key has
/// expired (killed, out of memory, host lost) has its in-flight jobs put back at the head of
/// their queues by whichever live process notices first.
///
/// A missing key alone does not make a process dead: after Redis was down for longer than the
/// TTL, every key's expiry time has passed when it comes back, live processes' too. A process
/// is declared dead only once this one has seen its key missing for a whole TTL, by which time
/// a live one has beaten again (it beats every third of the TTL) — otherwise the first worker
/// back would hand every other worker's running jobs to a second runner.
struct Heartbeat: Sendable {
    let redis: RedisClient
    let configuration: WorkerConfiguration
    let slots: Slots
    /// What the process runs, published with every beat for operators (`RunningNow`).
    let running: RunningJobs
    let startedAt: Int64
    let logger: Logger
    /// Since when this process has seen each other process's key missing.
    let missing = MissingProcesses()

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
        let dead = missing.overdue(zip(others, alive).filter { $0.1.int == 0 }.map(\.0), after: configuration.heartbeatTTL)
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
            missing.forget(process)
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

/// The processes one process has seen without a heartbeat key, each with the time it first did.
final class MissingProcesses: Sendable {
    private let since = Mutex<[String: ContinuousClock.Instant]>([:])

    /// Notes `missing` (the processes whose key is gone now) and returns those gone for at least
    /// `grace` as this process saw them; one seen alive again starts from nothing next time.
    func overdue(_ missing: [String], after grace: Duration, now: ContinuousClock.Instant = .now) -> [String] {
        since.withLock { since in
            let gone = Set(missing)
            since = since.filter { gone.contains($0.key) }
            var overdue: [String] = []
            for process in missing {
                if let first = since[process] {
                    if now - first >= grace { overdue.append(process) }
                } else {
                    since[process] = now
                }
            }
            return overdue
        }
    }

    func forget(_ process: String) {
        since.withLock { _ = $0.removeValue(forKey: process) }
    }
}
