import Logging
import Redis

/// Returns the jobs of a dead worker process to their queues, counting the death against each.
///
/// A process that dies (crash, OOM kill, lost host) holding a job may have died *of* it: a job
/// whose input traps the process, or that needs more memory than the host has. Put back at the
/// head of its queue as is, such a job would kill the next worker that takes it, then the next,
/// for ever, and with them every other job they ran. So each recovery counts the death in the
/// job's envelope (`crashes`, with a line in its error history), and at the
/// ``WorkerConfiguration/crashLimit``-th death the job becomes a dead letter that says so,
/// instead of going back in line. A death does not use up an attempt: a lost host is not the
/// job's failure, and a job limited to one attempt must not die of one deploy's kill.
/// Replaying the dead letter (after the fix) starts the count afresh.
struct CrashRecovery: Sendable {
    let redis: RedisClient
    let crashLimit: Int
    let deadLetterCap: Int
    let logger: Logger

    /// Jobs recovered from one dead process's in-flight hash of one queue.
    struct Outcome: Equatable {
        var requeued = 0
        var buried = 0
    }

    /// How many of a dead process's jobs one script call returns.
    static let batch = 200

    func recover(process: String, keys: QueueKeys) async throws -> Outcome {
        let held = try await redis.send("HGETALL", .string(keys.inflight(process))).array ?? []
        var entries: [(id: String, tenant: String)] = []
        for pair in stride(from: 0, to: held.count - 1, by: 2) {
            if let id = held[pair].string, let tenant = held[pair + 1].string { entries.append((id, tenant)) }
        }
        var outcome = Outcome()
        var start = 0
        while start < entries.count {
            let chunk = entries[start..<min(start + Self.batch, entries.count)]
            start += Self.batch
            let payloads = try await redis.send(RedisCommand("HMGET", [.string(keys.jobs)] + chunk.map { .string($0.id) })).array ?? []
            var arguments: [RedisArgument] = [.string(keys.prefix), .int64(Clock.nowMillis()), .int(deadLetterCap)]
            var buried: [(id: String, kind: String)] = []
            for (index, entry) in chunk.enumerated() {
                let read = index < payloads.count ? payloads[index].bytes ?? [] : []
                let (counted, dead, kind) = counting(read, process: process)
                arguments += [.string(entry.id), .string(entry.tenant), .raw(read), .raw(counted), .string(dead ? "dead" : "ready")]
                if dead { buried.append((entry.id, kind)) }
            }
            let reply = try await redis.run(QueueScripts.recover,
                                            keys: [.string(keys.inflight(process)), .string(keys.jobs), .string(keys.ring),
                                                   .string(keys.stats), .string(keys.wake), .string(keys.dead), .string(keys.deadJobs)],
                                            arguments: arguments).array ?? []
            outcome.requeued += reply.first?.int ?? 0
            let newlyBuried = reply.count > 1 ? reply[1].int ?? 0 : 0
            outcome.buried += newlyBuried
            if newlyBuried > 0 {
                for job in buried {
                    logger.error("a job's worker process died while holding it \(crashLimit) times: it is a dead letter, not run again",
                                 metadata: ["queue": "\(keys.queue)", "job_id": "\(job.id)", "kind": "\(job.kind)", "process": "\(process)"])
                }
            }
        }
        return outcome
    }

    /// The payload with this death counted, whether it reaches the limit, and the job's kind. A
    /// payload that does not decode goes back as it is (the worker that takes it dead-letters it).
    private func counting(_ payload: [UInt8], process: String) -> (payload: [UInt8], dead: Bool, kind: String) {
        guard !payload.isEmpty, var envelope = try? JobEnvelope.decode(payload) else { return (payload, false, "") }
        let crashes = (envelope.crashes ?? 0) + 1
        envelope.crashes = crashes
        let dead = crashes >= crashLimit
        let message = dead
            ? "its worker process died while holding it \(crashes) times (crash, OOM kill or lost host; the last was \(process)): not run again, in case the job itself kills the process; replay it once the cause is fixed"
            : "its worker process \(process) died while holding it (crash \(crashes) of \(crashLimit) allowed before it becomes a dead letter); it goes back in line"
        envelope.errors.append(JobErrorRecord(attempt: envelope.attempt, at: Clock.nowMillis(), message: message))
        if envelope.errors.count > JobEnvelope.errorHistory {
            envelope.errors.removeFirst(envelope.errors.count - JobEnvelope.errorHistory)
        }
        guard let counted = try? envelope.encoded() else { return (payload, false, envelope.kind) }
        return (counted, dead, envelope.kind)
    }
}
