import Foundation
import Scheduler
import Synchronization

/// Collects a scheduler's events and lets a test wait, with a deadline, until they show
/// something — an event to await instead of a sleep.
final class SchedulerEvents: Sendable {
    private struct Waiter {
        let predicate: @Sendable ([SchedulerEvent]) -> Bool
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var events: [SchedulerEvent] = []
        var waiters: [Int: Waiter] = [:]
        var nextToken = 0
        /// Waits whose deadline passed before they were registered.
        var expired: Set<Int> = []
    }

    private let state = Mutex(State())

    var all: [SchedulerEvent] { state.withLock { $0.events } }

    /// The ticks this scheduler itself enqueued.
    var created: [TickEnqueuer.Fired] {
        all.compactMap { if case let .fired(fired) = $0, fired.created { return fired } else { return nil } }
    }

    func record(_ event: SchedulerEvent) {
        let ready: [CheckedContinuation<Bool, Never>] = state.withLock { state in
            state.events.append(event)
            let events = state.events
            let done = state.waiters.filter { $0.value.predicate(events) }
            for token in done.keys { state.waiters[token] = nil }
            return done.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// Waits until `predicate` holds for the events so far, at most `seconds`.
    /// - Throws: ``TestSetupError`` saying what did not happen in time.
    func wait(_ what: String, within seconds: Double,
              until predicate: @escaping @Sendable ([SchedulerEvent]) -> Bool) async throws {
        let token = state.withLock { state -> Int in
            state.nextToken += 1
            return state.nextToken
        }
        let timer = Task { [self] in
            try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            let continuation = state.withLock { state in
                guard let waiter = state.waiters.removeValue(forKey: token) else {
                    state.expired.insert(token)
                    return CheckedContinuation<Bool, Never>?.none
                }
                return waiter.continuation
            }
            continuation?.resume(returning: false)
        }
        defer { timer.cancel() }
        let happened = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let outcome = state.withLock { state -> Bool? in
                if predicate(state.events) { return true }
                if state.expired.remove(token) != nil { return false }
                state.waiters[token] = Waiter(predicate: predicate, continuation: continuation)
                return nil
            }
            if let outcome { continuation.resume(returning: outcome) }
        }
        guard happened else {
            throw TestSetupError("timed out after \(seconds)s waiting for \(what); events: \(describe(all))")
        }
    }

    private func describe(_ events: [SchedulerEvent]) -> String {
        events.suffix(20).map { event in
            switch event {
            case let .fired(f): return "fired(\(f.schedule) \(f.tick) \(f.outcome))"
            case let .polled(now): return "polled(\(now))"
            case let .pollFailed(schedule, error): return "pollFailed(\(schedule): \(error))"
            }
        }.joined(separator: ", ")
    }
}

extension Array where Element == SchedulerEvent {
    var pollCount: Int { filter { if case .polled = $0 { return true } else { return false } }.count }

    /// Ticks enqueued (created) for `schedule`.
    func createdTicks(of schedule: String) -> [Date] {
        compactMap { if case let .fired(f) = $0, f.created, f.schedule == schedule { return f.tick } else { return nil } }
    }
}
