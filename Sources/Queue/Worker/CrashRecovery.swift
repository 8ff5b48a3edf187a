import Logging
import Redis

/// Returns the jobs of a dead worker process to their queues, and takes a job that keeps killing
/// its process out of line.
///
/// A process that dies (crash, OOM kill, lost host) holding a job may have died *of* it: a job
/// whose input traps the process, or that needs more memory than the host has. Put back at the
/// head of its queue as is, such a job would kill the next worker that takes it, then the next,
/// for ever, and with them every job they ran beside it. Which of the jobs in flight did it cannot
/// be told from one death, so:
///
/// 1. A job with no death against it that was in flight gets its first (`crashes` 1, and a line
///    in its error history): it becomes a *suspect*, and goes back in line.
/// 2. Suspects run alone, one at a time per process, marked in Redis while they run
///    (``SuspectLane``). When a process dies again, the death is counted against the suspect
///    it was running (`runningSuspect`) only; suspects that were waiting for their turn go back
///    unchanged, and jobs that were not suspects get their first as in 1.
/// 3. At ``WorkerConfiguration/crashLimit`` deaths the job becomes a dead letter that says so,
///    instead of going back in line. Its neighbours, run apart from it, are not blamed again.
///
/// A death does not use up an attempt: a lost host is not the job's failure, and a job limited
/// to one attempt must not die of one deploy's kill. Replaying the dead letter (after the fix)
/// starts the count afresh. A payload that does not decode goes back as it is.
struct CrashRecovery: Sendable {
    let redis: RedisClient
    let crashLimit: Int
    let deadLetterCap: Int
    let logger: Logger

    /// Jobs recovered from one dead process's in-flight hash of one queue.
    struct Outcome: Equatable {
        var requeued = 0
        var buried = 0
        /// The process beat again before its jobs were touched: it lives, and nothing was recovered.
        var alive = false
    }

    /// How many of a dead process's jobs one script call returns.
    static let batch = 200

    /// - Parameter processKey: the process's heartbeat key, checked in each script call: a process
    ///   that beats again between being found missing and its recovery keeps its jobs.
    func recover(process: String, processKey: String, keys: QueueKeys, runningSuspect: String?) async throws -> Outcome {
        let held = try await redis.send("HGETALL", .string(keys.inflight(process))).array ?? []
        var entries: [(id: String, tenant: String)] = []
        for pair in stride(from: 0, to: held.count - 1, by: 2) {
            if let id = held[pair].string, let value = held[pair + 1].string { entries.append((id, Lease.tenant(of: value))) }
        }
        var outcome = Outcome()
        var start = 0
        while start < entries.count {
            let chunk = entries[start..<min(start + Self.batch, entries.count)]
            start += Self.batch
            let payloads = try await redis.send(RedisCommand("HMGET", [.string(keys.jobs)] + chunk.map { .string($0.id) })).array ?? []
            var arguments: [RedisArgument] = [.string(keys.prefix), .int64(Clock.nowMillis()), .int(deadLetterCap)]
            var kinds: [String: String] = [:]
            for (index, entry) in chunk.enumerated() {
                let read = index < payloads.count ? payloads[index].bytes ?? [] : []
                let verdict = judge(read, id: entry.id, process: process, running: entry.id == runningSuspect)
                arguments += [.string(entry.id), .string(entry.tenant), .raw(read), .raw(verdict.payload),
                              .string(verdict.dead ? "dead" : "ready")]
                kinds[entry.id] = verdict.kind
            }
            let reply = try await redis.run(QueueScripts.recover,
                                            keys: [.string(keys.inflight(process)), .string(keys.jobs), .string(keys.ring),
                                                   .string(keys.stats), .string(keys.wake), .string(keys.dead), .string(keys.deadJobs),
                                                   .string(processKey)],
                                            arguments: arguments).array ?? []
            if reply.first?.int == -1 {
                outcome.alive = true
                return outcome
            }
            outcome.requeued += reply.first?.int ?? 0
            for buried in reply.dropFirst().compactMap(\.string) {
                outcome.buried += 1
                logger.error("a job's worker process died while running it \(crashLimit) times: it is a dead letter, not run again",
                             metadata: ["queue": "\(keys.queue)", "job_id": "\(buried)", "kind": "\(kinds[buried] ?? "")",
                                        "process": "\(process)"])
            }
        }
        return outcome
    }

    private struct Verdict {
        var payload: [UInt8]
        var dead = false
        var kind = ""
    }

    /// What becomes of one job the dead process held: its payload with the death counted (or as
    /// it was, for a suspect that was only waiting for its turn), and whether it is a dead letter.
    private func judge(_ payload: [UInt8], id: String, process: String, running: Bool) -> Verdict {
        guard !payload.isEmpty, var envelope = try? JobEnvelope.decode(payload) else { return Verdict(payload: payload) }
        let before = envelope.crashes ?? 0
        // A suspect that was not the one running waited for its turn: this death is not its.
        guard before == 0 || running else { return Verdict(payload: payload, kind: envelope.kind) }
        let crashes = before + 1
        envelope.crashes = crashes
        let dead = crashes >= crashLimit
        let message: String
        if dead {
            message = "its worker process died while running it \(crashes) times (crash, OOM kill or lost host; the last was \(process)), "
                + "the last ones with no other suspect beside it: not run again, in case the job itself kills the process; "
                + "replay it once the cause is fixed"
        } else if before == 0 {
            message = "its worker process \(process) died while it held it (with others): it goes back in line as a suspect, "
                + "run alone from now on; \(crashLimit) deaths make it a dead letter"
        } else {
            message = "its worker process \(process) died while running it alone (death \(crashes) of \(crashLimit) before it "
                + "becomes a dead letter)"
        }
        envelope.errors.append(JobErrorRecord(attempt: envelope.attempt, at: Clock.nowMillis(), message: message))
        if envelope.errors.count > JobEnvelope.errorHistory {
            envelope.errors.removeFirst(envelope.errors.count - JobEnvelope.errorHistory)
        }
        guard let counted = try? envelope.encoded() else { return Verdict(payload: payload, kind: envelope.kind) }
        return Verdict(payload: counted, dead: dead, kind: envelope.kind)
    }
}
