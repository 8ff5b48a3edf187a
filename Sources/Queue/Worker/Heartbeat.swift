import Foundation
import Logging
import Redis
import Synchronization

/// Tells the others this process is alive, and returns the jobs of processes that are not.
/// Each beat refreshes a key that expires after the heartbeat TTL; a process whose key has
/// expired (killed, out of memory, host lost) has its in-flight jobs put back at the head of
/// their queues by whichever live process notices first (``CrashRecovery``, which takes a job
/// out of line once processes have died holding it `crashLimit` times).
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
    /// The jobs whose outcome is on its way to Redis.
    let recorder: OutcomeRecorder
    let startedAt: Int64
    let logger: Logger
    /// Since when this process has seen each other process's key missing.
    let missing = Sightings()
    /// Since when this process has seen each job of its own in-flight hashes held by nothing in it.
    let strays = Sightings()

    var keys: GlobalKeys { GlobalKeys(namespace: configuration.namespace) }

    /// Beats every third of the TTL and recovers dead processes, until cancelled.
    func run() async {
        while !Task.isCancelled {
            do {
                try await beat()
                try await recoverDeadProcesses()
                try await recoverStrays()
            } catch {
                logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: configuration.heartbeatTTL / 3)
        }
    }

    /// Registers or refreshes this process, with the jobs it runs now: its hash, the hash's
    /// expiry and its registration in one script (``ProcessScripts/beat``). Returns false when
    /// the key had expired since the last beat (not on the first): the others may have taken this
    /// process for dead and put its running jobs back in line, which is logged.
    @discardableResult
    func beat(first: Bool = false) async throws -> Bool {
        let id = configuration.processID
        let ttlMillis = Int(configuration.heartbeatTTL.seconds * 1000)
        let queues = configuration.queues.map { "\($0.name):\($0.weight)" }.joined(separator: ",")
        let now = Clock.nowMillis()
        let fields: [(String, RedisArgument)] = [
            ("host", .string(ProcessInfo.processInfo.hostName)), ("pid", .int(Int(getpid()))),
            ("started_at", .int64(startedAt)), ("beat_at", .int64(now)), ("queues", .string(queues)),
            ("concurrency", .int(configuration.concurrency)), ("busy", .int(slots.busy)),
            ("running", .string(RunningNow.published(running.snapshot()))),
        ]
        let arguments: [RedisArgument] = [.string(id), .int(ttlMillis), .int64(now), .int(fields.count)]
            + fields.flatMap { [RedisArgument.string($0.0), $0.1] } + configuration.queues.map { .string($0.name) }
        let existed = try await redis.run(ProcessScripts.beat, keys: [.string(keys.process(id)), .string(keys.processes),
                                                                       .string(keys.queues)],
                                          arguments: arguments).int == 1
        if !existed && !first {
            logger.warning("""
                this process's heartbeat key had expired (it could not beat for a whole TTL: blocked, paused, or Redis was \
                out of reach): other workers may have taken it for dead and put the jobs it runs back in line
                """, metadata: ["running": "\(running.count)", "heartbeat_ttl_seconds": "\(configuration.heartbeatTTL.seconds)"])
        }
        return existed
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
        let recovery = CrashRecovery(redis: redis, crashLimit: configuration.crashLimit,
                                     deadLetterCap: configuration.deadLetterCap, logger: logger)
        var recovered = 0
        for process in dead {
            var outcome = CrashRecovery.Outcome()
            let blamed = try await redis.send("GET", .string(keys.suspect(process))).string.flatMap(RunningSuspect.init(stored:))
            for queue in queues {
                let one = try await recovery.recover(process: process, processKey: keys.process(process),
                                                     keys: QueueKeys(queue: queue, namespace: configuration.namespace),
                                                     runningSuspect: blamed?.queue == queue ? blamed?.id : nil)
                outcome.requeued += one.requeued
                outcome.buried += one.buried
                // It beat meanwhile: alive after all; the rest of its jobs stay its own.
                if one.alive { break }
            }
            recovered += outcome.requeued + outcome.buried
            // Out of the registry only while its key is still missing: had it beaten meanwhile and
            // then died, unregistered, the jobs it fetched since would never be recovered.
            let forgotten = try await redis.run(ProcessScripts.forget, keys: [.string(keys.process(process)), .string(keys.processes),
                                                                              .string(keys.suspect(process))],
                                                arguments: [.string(process)]).int == 1
            missing.forget(process)
            logger.notice("recovered a dead worker process", metadata: [
                "process": "\(process)", "jobs": "\(outcome.requeued)", "dead_letters": "\(outcome.buried)",
                "beat_again": "\(!forgotten)"])
        }
        return recovered
    }

    /// Returns to their queues the jobs of this process's own in-flight hashes that nothing in it
    /// holds: not running, no outcome on its way. A fetch whose reply never came (Redis ran the
    /// script, the answer timed out) leaves such jobs, and so does an outcome given up on; no other
    /// process recovers them while this one beats. A job counts as a stray once every check for
    /// longer than a command's timeout has found it so, by which time a fetch reply still on its
    /// way has arrived (and the job runs) or never will. Returns how many were returned.
    @discardableResult
    func recoverStrays(now: ContinuousClock.Instant = .now) async throws -> Int {
        let queues = configuration.queues.map(\.name)
        let keys = queues.map { QueueKeys(queue: $0, namespace: configuration.namespace) }
        let replies = try await redis.pipeline(keys.map { RedisCommand("HKEYS", .string($0.inflight(configuration.processID))) })
        let known = running.ids.union(recorder.held)
        var seen: [String] = []
        for (queue, reply) in zip(queues, replies) {
            for id in (try reply.unwrapped().array ?? []).compactMap(\.string) where !known.contains(id) {
                seen.append(queue + "\u{0}" + id)
            }
        }
        let timeout = Duration.nanoseconds(redis.configuration.commandTimeout.nanoseconds)
        let due = strays.overdue(seen, after: max(configuration.heartbeatTTL, timeout + .seconds(1)), now: now)
        guard !due.isEmpty else { return 0 }
        var byQueue: [String: [String]] = [:]
        for key in due {
            let parts = key.split(separator: "\u{0}", maxSplits: 1).map(String.init)
            if parts.count == 2 { byQueue[parts[0], default: []].append(parts[1]) }
        }
        var returned = 0
        for (queue, ids) in byQueue {
            let q = QueueKeys(queue: queue, namespace: configuration.namespace)
            returned += try await redis.run(QueueScripts.requeue, keys: OutcomeRecorder.requeueKeys(q, process: configuration.processID),
                                            arguments: [.string(q.prefix)] + ids.map { .string($0) }).int ?? 0
            for id in ids { strays.forget(queue + "\u{0}" + id) }
            logger.warning("returned jobs this process held for nobody (a fetch whose answer was lost, an outcome given up on)",
                           metadata: ["queue": "\(queue)", "jobs": "\(ids.count)"])
        }
        return returned
    }

    /// Removes this process from the registry (after its jobs are acknowledged or returned).
    func deregister() async throws {
        try await redis.pipeline([
            RedisCommand("DEL", .string(keys.process(configuration.processID))),
            RedisCommand("DEL", .string(keys.suspect(configuration.processID))),
            RedisCommand("ZREM", .string(keys.processes), .string(configuration.processID)),
        ])
    }
}

/// Things a process has found in some state at every check (a process without a heartbeat key,
/// a job held for nobody), each with the time it first did.
final class Sightings: Sendable {
    private let since = Mutex<[String: ContinuousClock.Instant]>([:])

    /// Notes `seen` (what is in the state now) and returns what has been in it for at least
    /// `grace`, at every check since; one not seen now starts from nothing next time.
    func overdue(_ seen: [String], after grace: Duration, now: ContinuousClock.Instant = .now) -> [String] {
        since.withLock { since in
            let current = Set(seen)
            since = since.filter { current.contains($0.key) }
            var overdue: [String] = []
            for thing in seen {
                if let first = since[thing] {
                    if now - first >= grace { overdue.append(thing) }
                } else {
                    since[thing] = now
                }
            }
            return overdue
        }
    }

    func forget(_ thing: String) {
        since.withLock { _ = $0.removeValue(forKey: thing) }
    }
}
