import Foundation
import Queue

/// Enqueues one tick of one schedule, exactly once however many scheduler processes try.
///
/// Two steps, each atomic on its own, in an order that makes a crash between them harmless:
/// 1. **Claim and enqueue, one Lua step** (`JobClient.enqueue(kind:args:options:sequence:)`):
///    the job, with the id derived from (schedule, tick), is stored only if the tick is later
///    than the schedule's claim (hash `NAMESPACE:seq`, field `schedule:NAME`, whatever the
///    queue), and the claim moves to the tick in the same step. There is no moment
///    where a tick is claimed but its job is not stored, or the reverse.
/// 2. **Record** the tick in ``LastTicks`` (the bookmark used to find missed ticks).
///
/// If a process dies after 1 and before 2, the bookmark lags: the next poll of any process
/// (or the restarted one) finds the tick due again, step 1 refuses it (the claim is already
/// there, and never expires), and step 2 catches the bookmark up. If it dies before 1, nothing
/// happened and the tick is still due for whoever polls next. Either way: one job per tick.
/// The claim only moves forward, so a process that reaches a tick after a later one was
/// claimed enqueues nothing for it (``Outcome/superseded(by:)``). See docs/scheduler.md.
public struct TickEnqueuer: Sendable {
    public let client: JobClient
    public let lastTicks: LastTicks

    public init(client: JobClient, lastTicks: LastTicks) {
        self.client = client
        self.lastTicks = lastTicks
    }

    /// The outcome of one tick.
    public struct Fired: Sendable, Equatable {
        public var schedule: String
        public var tick: Date
        public var jobID: String
        public var outcome: Outcome
        /// The traceparent this call gave the job (each tick starts a trace of its own); nil when
        /// another call had stored it.
        public var trace: String?

        /// True when this call stored the job.
        public var created: Bool { outcome == .enqueued }
    }

    /// What became of a tick.
    public enum Outcome: Sendable, Equatable {
        /// This call stored the job.
        case enqueued
        /// Another process (or an earlier attempt of this one) had already stored it.
        case alreadyEnqueued
        /// A later tick had already been claimed: this one is coalesced into it (a process
        /// that polled more than one period late, under `latest` or `none`).
        case superseded(by: Date)
    }

    /// The job id of `tick` of schedule `name`: the same in every process.
    public static func jobID(schedule name: String, tick: Date) -> String {
        jobID(schedule: name, tickMillis: LastTicks.millis(tick))
    }

    static func jobID(schedule name: String, tickMillis: Int64) -> String {
        JobID.derived(from: "schedule:\(name):\(tickMillis)")
    }

    /// The name of the schedule's claim in its queue's sequence hash.
    public static func sequenceName(schedule name: String) -> String { "schedule:\(name)" }

    /// Claims and enqueues `tick` of `schedule` (whose arguments are `args`), then records it.
    /// - Throws: `JobFailure` if the registry rejects the kind or arguments; `RedisError` if
    ///   Redis did not answer (trying the same tick again is safe).
    public func fire(_ schedule: ScheduleDefinition, args: JSONValue, tick: Date) async throws -> Fired {
        let tickMillis = LastTicks.millis(tick)
        let id = Self.jobID(schedule: schedule.name, tickMillis: tickMillis)
        let trace = TraceParent.make()
        let queue = client.registry.queue(for: schedule.jobKind, override: schedule.queue)
        let receipt = try await client.enqueue(
            kind: schedule.jobKind, args: args,
            options: JobClient.Options(queue: schedule.queue, jobID: id, trace: trace),
            sequence: EnqueueSequence(name: Self.sequenceName(schedule: schedule.name), number: tickMillis))
        if !receipt.created, let claimed = receipt.previous, claimed > tickMillis {
            // The claim is at a later tick whose enqueuer may have died before recording it:
            // record that tick (its job id follows from it), not this one.
            let later = Date(timeIntervalSince1970: TimeInterval(claimed) / 1000)
            // Its queue is most likely this file's (the process that claimed it may have had another).
            try await lastTicks.advance(schedule.name, to: later,
                                        jobID: Self.jobID(schedule: schedule.name, tickMillis: claimed), queue: queue)
            return Fired(schedule: schedule.name, tick: tick, jobID: id, outcome: .superseded(by: later), trace: nil)
        }
        try await lastTicks.advance(schedule.name, to: tick, jobID: id, queue: queue)
        return Fired(schedule: schedule.name, tick: tick, jobID: id,
                     outcome: receipt.created ? .enqueued : .alreadyEnqueued,
                     trace: receipt.created ? trace : nil)
    }
}
