import Synchronization

/// A stop request that also cuts short any sleep in progress, so a loop that sleeps until its
/// next piece of work still stops at once.
final class StopSignal: Sendable {
    private struct State {
        var stopped = false
        var nextToken = 0
        var sleepers: [Int: (CheckedContinuation<Void, Never>, Task<Void, Never>?)] = [:]
    }

    private let state = Mutex(State())

    var isStopped: Bool { state.withLock { $0.stopped } }

    /// Sets the flag and wakes every sleeper. Idempotent.
    func stop() {
        let sleepers = state.withLock { state in
            state.stopped = true
            defer { state.sleepers = [:] }
            return Array(state.sleepers.values)
        }
        for (continuation, timer) in sleepers {
            timer?.cancel()
            continuation.resume()
        }
    }

    /// Returns after `duration`, or as soon as ``stop()`` is called (at once if it was).
    func sleep(for duration: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let token: Int? = state.withLock { state in
                guard !state.stopped else { return nil }
                let token = state.nextToken
                state.nextToken += 1
                state.sleepers[token] = (continuation, nil)
                return token
            }
            guard let token else { return continuation.resume() }
            let timer = Task { [self] in
                try? await Task.sleep(for: duration)
                wake(token)
            }
            // The timer may already have fired; only keep it while its sleeper waits.
            state.withLock { state in
                if let entry = state.sleepers[token] { state.sleepers[token] = (entry.0, timer) }
            }
        }
    }

    private func wake(_ token: Int) {
        let continuation = state.withLock { $0.sleepers.removeValue(forKey: token)?.0 }
        continuation?.resume()
    }
}
