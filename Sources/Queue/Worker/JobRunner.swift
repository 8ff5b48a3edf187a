import Foundation
import Logging

/// Runs one fetched job: decodes its envelope's header, finds its handler, runs it under its
/// timeout, and turns what happened into an outcome (done, retry later, or dead letter with
/// the reason). The arguments are decoded once, by the handler's own type.
struct JobRunner: Sendable {
    let registry: JobRegistry
    let recorder: OutcomeRecorder
    let running: RunningJobs
    let slots: Slots
    /// Where jobs a worker process died holding before (suspects) run, one at a time.
    let suspects: SuspectLane
    let logger: Logger
    let observer: JobObserver?
    /// How long a job of a kind with no handler here waits for a worker that has one, and how long
    /// at a time (`WorkerConfiguration.unknownKindPatience`, `unknownKindRetake`).
    var unknownKind: (patience: Duration, retake: Duration) = (.seconds(3600), .seconds(30))
    /// One warning per unknown kind a minute, however many of its jobs are put back.
    let unknownKindLog = LogThrottle(interval: .seconds(60))

    /// Starts the job in a task of its own and returns at once; the slot is given back when
    /// the job's outcome has been handed to the recorder. `lease` is the fetch's that took it: its
    /// outcome is written under it.
    func start(id: String, queue: String, payload: [UInt8], lease: Lease) {
        let header: JobEnvelope.Header
        let arguments: Range<Int>
        do {
            let scan = try EnvelopeScanner.scan(payload)
            header = scan.header
            arguments = scan.arguments
        } catch {
            finishDetached(Self.poison(id: id, queue: queue, payload: payload), failure: error, lease: lease)
            return
        }
        guard let handler = registry.handler(for: header.kind) else {
            // A replayed letter that was never a job (kind `poison`, its arguments the text it held)
            // is a kind no build runs: it dies again at once rather than waiting as a newer build's.
            let poison = header.kind == Self.poisonKind
            let waited = Clock.nowMillis() - max(header.enqueuedAt, header.dueAt ?? 0)
            // (No patience is none, whatever the clocks say: a job stamped ahead of this host waits too.)
            if !poison, unknownKind.patience > .zero, waited < Int64(unknownKind.patience.seconds * 1000) {
                putBackUnknown(id: id, queue: queue, kind: header.kind, lease: lease)
                return
            }
            let envelope = (try? JobEnvelope.decode(payload)) ?? Self.poison(id: id, queue: queue, payload: payload)
            let failure: JobFailure = poison
                ? .poison("replayed, and still not a job: its arguments are the text it held") : .unknownKind(header.kind)
            finishDetached(envelope, failure: failure, lease: lease)
            return
        }
        // A suspect (its worker died holding it before) runs only while it holds this process's
        // lane; one that finds the lane taken goes back to the schedule for a moment, without
        // holding a slot while it waits.
        var lane: UInt64?
        if (header.crashes ?? 0) > 0 {
            guard let taken = suspects.tryTake() else {
                putBack(id: id, queue: queue, lease: lease, forMillis: SuspectLane.retakeAfterMillis)
                return
            }
            lane = taken
        }
        let (token, superseded) = running.register(header: header, payload: payload, policy: handler.options.retry,
                                                   timeout: handler.options.timeout, lease: lease, lane: lane)
        if let superseded {
            // Its run lost the claim and returns without giving back its slot: given back here.
            slots.release()
            logger.warning("""
                job fetched again while this process still ran it (the job was put back in line: this process was taken \
                for dead); the earlier run is cancelled and its outcome ignored
                """, metadata: [
                    "job_id": "\(id)", "kind": "\(header.kind)",
                    "running_for_ms": "\(Clock.nowMillis() - superseded.startedAt)"])
        }
        let running = self.running
        let context = JobContext(header: header, logger: logger) { running.progress(id: id, note: $0) }
        let observer = self.observer
        let suspects = self.suspects
        let task = Task {
            if let lane {
                await suspects.mark(queue: header.queue, id: id, run: lane)
                // Returned by a shutdown while the mark was written: another process may run it.
                guard running.startClock(id: id, token: token) else {
                    await suspects.clear(queue: header.queue, id: id, run: lane)
                    suspects.free(lane)
                    return
                }
            }
            observer?(.started(header))
            let start = ContinuousClock.now
            let failure: Error?
            do {
                // What the job enqueues (directly or through the outbox) continues its trace.
                try await TraceParent.$current.withValue(header.trace) {
                    try await handler.run(payload: payload, arguments: arguments, context: context)
                }
                failure = nil
            } catch {
                failure = error
            }
            let seconds = (ContinuousClock.now - start).seconds
            if let lane {
                await suspects.clear(queue: header.queue, id: id, run: lane)
                suspects.free(lane)
            }
            // Lost the claim: the run was interrupted by a shutdown, or superseded, and that stands.
            guard let claimed = running.claim(id, token: token) else { return }
            if let failure {
                // Past its deadline, cancelled: a timeout, whatever the cancellation made it throw
                // (unless it failed for good: that reason stands).
                let permanent = (failure as? JobFailure)?.isPermanent ?? false
                let reason = claimed.overdue && !permanent ? JobFailure.timedOut(claimed.timeout) : failure
                await recordFailure(header: header, payload: payload, failure: reason, policy: handler.options.retry,
                                    lease: lease)
            } else {
                if claimed.overdue {
                    // Its effects happened: a retry would make them twice.
                    logger.warning("job finished after its timeout; recorded as done", metadata: [
                        "job_id": "\(id)", "kind": "\(header.kind)", "seconds": "\(seconds)"])
                }
                observer?(.succeeded(header, seconds: seconds))
                recorder.succeeded(id: header.id, queue: header.queue, lease: lease)
            }
            slots.release()
        }
        running.attach(id: id, task: task)
    }

    /// A run past its deadline that was given up on (``RunningJobs/claimAbandoned(now:grace:)``), or
    /// that shutdown's grace period ended on: it counts as a failed attempt (returned to its queue as
    /// interrupted, a job that always times out would run again at every restart, its attempts never
    /// used up). Gives back its slot, and a suspect's lane: until it is given up on, the lane stays
    /// with a run past its timeout (while its handler runs it may still be what kills the process),
    /// but a handler that never returns would hold back every later suspect of this process for
    /// ever, each put back in line every half second, with nothing to tell why. Its late return, if
    /// it comes, frees nothing of the next suspect's (`SuspectLane.free`, `clear` check the run).
    func abandoned(_ entry: RunningJobs.Entry) async {
        if let lane = entry.lane {
            await suspects.clear(queue: entry.header.queue, id: entry.header.id, run: lane)
            suspects.free(lane)
        }
        await recordFailure(header: entry.header, payload: entry.payload,
                            failure: JobFailure.timedOut(entry.timeout), policy: entry.policy, lease: entry.lease)
        slots.release()
    }

    /// A job of a kind this build does not know, perhaps a newer build's: back to the schedule for
    /// a while, unchanged and with no attempt counted, for a worker that knows it.
    private func putBackUnknown(id: String, queue: String, kind: String, lease: Lease) {
        let retake = unknownKind.retake
        if let held = unknownKindLog.pass(kind) {
            logger.warning("""
                no handler for this job's kind in this build (a newer build's, during a deploy?): put back for a worker \
                that has one
                """, metadata: ["job_id": "\(id)", "kind": "\(kind)", "retry_in_s": "\(retake.seconds)",
                                "dead_after_s": "\(unknownKind.patience.seconds)", "put_back_since_last_line": "\(held)"])
        }
        putBack(id: id, queue: queue, lease: lease, forMillis: Int64(retake.seconds * 1000))
    }

    /// Puts a job taken but not run back in the schedule for `forMillis`, then gives back its slot.
    private func putBack(id: String, queue: String, lease: Lease, forMillis: Int64) {
        let recorder = self.recorder, slots = self.slots, logger = self.logger
        Task {
            _ = await recorder.putBack(id: id, queue: queue, lease: lease, dueMillis: Clock.nowMillis() + forMillis, logger: logger)
            slots.release()
        }
    }

    private func finishDetached(_ envelope: JobEnvelope, failure: JobFailure, lease: Lease) {
        Task {
            await record(envelope, failure: failure, policy: .dontRetry, lease: lease)
            slots.release()
        }
    }

    /// The kind of a dead letter that was never a job (`poison`); no handler is ever registered for it.
    static let poisonKind = "poison"

    /// An envelope that is not a job keeps its raw text as its arguments, for inspection.
    static func poison(id: String, queue: String, payload: [UInt8]) -> JobEnvelope {
        JobEnvelope(id: id, kind: poisonKind, queue: queue,
                    args: .string(String(decoding: payload.prefix(4096), as: UTF8.self)), maxAttempts: 1)
    }

    private func recordFailure(header: JobEnvelope.Header, payload: [UInt8], failure: Error, policy: RetryPolicy,
                               lease: Lease) async {
        do {
            await record(try JobEnvelope.decode(payload), failure: failure, policy: policy, lease: lease)
        } catch {
            // The header decoded but the whole envelope does not (e.g. a malformed error history).
            await record(Self.poison(id: header.id, queue: header.queue, payload: payload), failure: error, policy: .dontRetry,
                         lease: lease)
        }
    }

    /// Records a failed attempt: a retry with backoff (no sooner than the failure's `RetryAfterHint`
    /// asks), or a dead letter.
    func record(_ envelope: JobEnvelope, failure: Error, policy: RetryPolicy, lease: Lease) async {
        var next = envelope
        next.attempt += 1
        let message = Self.message(for: failure)
        next.errors.append(JobErrorRecord(attempt: next.attempt, at: Clock.nowMillis(), message: message))
        if next.errors.count > JobEnvelope.errorHistory {
            next.errors.removeFirst(next.errors.count - JobEnvelope.errorHistory)
        }
        let permanent = (failure as? JobFailure)?.isPermanent ?? false
        var log = logger
        log[metadataKey: "job_id"] = "\(envelope.id)"
        log[metadataKey: "kind"] = "\(envelope.kind)"
        log[metadataKey: "attempt"] = "\(next.attempt)"
        if let trace = envelope.trace { log[metadataKey: "trace_id"] = "\(TraceParent.traceID(of: trace))" }
        if permanent || next.attempt >= next.maxAttempts {
            guard await recorder.bury(next, lease: lease, logger: log) else { return }
            observer?(.dead(next, reason: message))
            log.error("job dead", metadata: ["reason": "\(message)"])
        } else {
            // A service's wait is honoured up to the kind's longest backoff (at least an hour): a
            // proxy's "come back tomorrow" must not park a payment for a day.
            let longest = max(Int64(policy.cap.seconds * 1000), 3_600_000)
            let asked = ((failure as? any RetryAfterHint)?.retryAfter).map { min(Int64(max(0, $0.seconds * 1000)), longest) } ?? 0
            let due = Clock.nowMillis() + max(policy.delayMillis(afterAttempt: next.attempt), asked)
            next.dueAt = due
            guard await recorder.retry(next, dueMillis: due, lease: lease, logger: log) else { return }
            observer?(.retrying(next, error: message, dueAt: due))
            log.warning("job failed; will retry", metadata: ["error": "\(message)", "due_at": "\(due)"])
        }
    }

    static func message(for error: Error) -> String { JobFailure.reason(for: error) }
}
