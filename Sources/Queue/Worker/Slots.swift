import Synchronization

/// Counts the jobs running in this process, so the fetcher takes no more than the pool
/// can run, and lets it (and shutdown) wait until enough slots are free.
final class Slots: Sendable {
    private struct State {
        var busy = 0
        var waiter: (need: Int, fetcher: Bool, continuation: CheckedContinuation<Void, Never>)?
        /// Set by ``stopFetching()``: the fetcher's waits end at once from then on.
        var fetchingStopped = false
    }
    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = capacity }

    var busy: Int { state.withLock { $0.busy } }

    /// Takes `n` slots (the caller made sure they were free).
    func take(_ n: Int) { state.withLock { $0.busy += n } }

    /// Gives one slot back, waking a waiter whose need is now met.
    func release() {
        let ready: CheckedContinuation<Void, Never>? = state.withLock { s in
            s.busy -= 1
            if let w = s.waiter, capacity - s.busy >= w.need {
                s.waiter = nil
                return w.continuation
            }
            return nil
        }
        ready?.resume()
    }

    /// Waits until at least `need` slots are free (one waiter at a time: the fetcher or shutdown).
    /// The fetcher passes `fetcher: true`: its wait ends when ``stopFetching()`` is called, even
    /// if that happened just before it began waiting (the check and the wait share one lock, so
    /// a stop cannot fall between them and leave the fetcher asleep with shutdown not begun).
    func waitForFree(_ need: Int, fetcher: Bool = false) async {
        let need = min(need, capacity)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = state.withLock { s in
                if capacity - s.busy >= need || (fetcher && s.fetchingStopped) { return true }
                s.waiter = (need, fetcher, c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    /// The pool stops: wakes the fetcher if it waits, and ends its later waits at once. Only the
    /// fetcher: a drain that began waiting already (the fetcher left its loop first) keeps its
    /// grace period.
    func stopFetching() {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.fetchingStopped = true
            guard let waiter = s.waiter, waiter.fetcher else { return nil }
            s.waiter = nil
            return waiter.continuation
        }
        c?.resume()
    }

    /// Wakes the waiter regardless of slots (the end of shutdown's grace period).
    func wakeWaiter() {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            defer { s.waiter = nil }
            return s.waiter?.continuation
        }
        c?.resume()
    }
}
