import Synchronization

/// At most `count` holders at once; the others wait in line, first come first served. A waiter
/// whose task is cancelled leaves the line with `CancellationError`.
public final class Permits: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var free: Int
        var waiting: [Waiter] = []
        var nextID: UInt64 = 0
        /// Waiters cancelled before they joined the line.
        var cancelled: Set<UInt64> = []
    }

    public let count: Int
    private let state: Mutex<State>

    public init(_ count: Int) {
        self.count = max(1, count)
        self.state = Mutex(State(free: max(1, count)))
    }

    /// How many wait for a permit now.
    public var waiting: Int { state.withLock { $0.waiting.count } }
    /// How many permits are free now.
    public var free: Int { state.withLock { $0.free } }

    /// Takes a permit, waiting for one if none is free; give it back with ``release()``.
    /// - Throws: `CancellationError` if the task is cancelled while it waits.
    public func acquire() async throws {
        let id: UInt64? = state.withLock { state in
            if state.free > 0 {
                state.free -= 1
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let now: Result<Void, any Error>? = state.withLock { state in
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if state.free > 0 {   // given back meanwhile
                        state.free -= 1
                        return .success(())
                    }
                    state.waiting.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { state in
                guard let index = state.waiting.firstIndex(where: { $0.id == id }) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return state.waiting.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        // A cancellation that came after the permit was handed over leaves `id` noted: forget it.
        state.withLock { _ = $0.cancelled.remove(id) }
    }

    /// Gives a permit back: to the first waiter, if any.
    public func release() {
        let next: Waiter? = state.withLock { state in
            if state.waiting.isEmpty {
                state.free = min(count, state.free + 1)
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.continuation.resume()
    }
}
