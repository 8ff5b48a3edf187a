import Foundation
import Logging

/// Runs one fetched job: decodes its envelope, finds its handler, runs it under its timeout,
/// and turns what happened into an outcome (done, retry later, or dead letter with the reason).
struct JobRunner: Sendable {
    let registry: JobRegistry
    let recorder: OutcomeRecorder
    let running: RunningJobs
    let slots: Slots
    let logger: Logger
    let observer: JobObserver?

    /// Starts the job in a task of its own and returns at once; the slot is given back when
    /// the job's outcome has been handed to the recorder.
    func start(id: String, queue: String, payload: [UInt8]) {
        let envelope: JobEnvelope
        do {
            envelope = try JobEnvelope.decode(payload)
        } catch {
            let poison = JobEnvelope(id: id, kind: "poison", queue: queue,
                                     args: .string(String(decoding: payload.prefix(4096), as: UTF8.self)),
                                     maxAttempts: 1)
            finishDetached(envelope: poison, failure: error)
            return
        }
        guard let handler = registry.handler(for: envelope.kind) else {
            finishDetached(envelope: envelope, failure: .unknownKind(envelope.kind))
            return
        }
        running.register(envelope: envelope, policy: handler.options.retry, timeout: handler.options.timeout)
        let context = JobContext(envelope: envelope, logger: logger)
        let observer = self.observer
        let task = Task {
            observer?(.started(envelope))
            let start = ContinuousClock.now
            let failure: Error?
            do {
                try await handler.run(payload: payload, context: context)
                failure = nil
            } catch {
                failure = error
            }
            // Lost the claim: the job timed out or was interrupted, and that outcome stands.
            guard running.claim(id) else { return }
            if failure == nil { observer?(.succeeded(envelope, seconds: (ContinuousClock.now - start).seconds)) }
            await record(envelope: envelope, failure: failure, policy: handler.options.retry)
            slots.release()
        }
        running.attach(id: id, task: task)
    }

    /// The timeout watch claimed a late job: it counts as a failed attempt.
    func timedOut(_ entry: RunningJobs.Entry) async {
        await record(envelope: entry.envelope, failure: JobFailure.timedOut(entry.timeout), policy: entry.policy)
        slots.release()
    }

    private func finishDetached(envelope: JobEnvelope, failure: JobFailure) {
        Task {
            await record(envelope: envelope, failure: failure, policy: .dontRetry)
            slots.release()
        }
    }

    /// Turns the result of an attempt into an outcome and records it.
    func record(envelope: JobEnvelope, failure: Error?, policy: RetryPolicy) async {
        guard let failure else {
            recorder.succeeded(id: envelope.id, queue: envelope.queue)
            return
        }
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
        if let trace = envelope.trace { log[metadataKey: "trace_id"] = "\(trace)" }
        do {
            if permanent || next.attempt >= next.maxAttempts {
                try await recorder.bury(next)
                observer?(.dead(next, reason: message))
                log.error("job dead", metadata: ["reason": "\(message)"])
            } else {
                let due = Clock.nowMillis() + policy.delayMillis(afterAttempt: next.attempt)
                next.dueAt = due
                try await recorder.retry(next, dueMillis: due)
                observer?(.retrying(next, error: message, dueAt: due))
                log.warning("job failed; will retry", metadata: ["error": "\(message)", "due_at": "\(due)"])
            }
        } catch {
            // The outcome could not be written: the job stays in flight and will be recovered
            // and run again after this process stops — at least once, never lost.
            log.error("could not record job failure", metadata: ["error": "\(error)"])
        }
    }

    static func message(for error: Error) -> String {
        if let failure = error as? JobFailure { return failure.description }
        if error is CancellationError { return "cancelled" }
        return String(describing: error)
    }
}
