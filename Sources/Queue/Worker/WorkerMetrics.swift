import Synchronization

/// This process's counters, for logs, `/metrics` and the benchmark.
public final class WorkerMetrics: Sendable {
    public struct Counts: Sendable, Equatable {
        public var processed = 0
        public var failed = 0
        public var dead = 0
    }

    private let counts = Mutex<[String: Counts]>([:])
    private let onProcessed = Mutex<ProcessedObserver?>(nil)

    /// A box, so the callback is stored and fetched as a class reference and not re-wrapped
    /// by the generic lock on every call.
    private final class ProcessedObserver: Sendable {
        let callback: @Sendable (Int) -> Void
        init(_ callback: @escaping @Sendable (Int) -> Void) { self.callback = callback }
    }

    public init() {}

    /// Called with each batch of acknowledged successes (used by the benchmark to stop on time).
    public func observeProcessed(_ callback: @escaping @Sendable (Int) -> Void) {
        let observer = ProcessedObserver(callback)
        onProcessed.withLock { $0 = observer }
    }

    func processed(queue: String, count: Int) {
        counts.withLock { $0[queue, default: Counts()].processed += count }
        onProcessed.withLock { $0 }?.callback(count)
    }

    func failed(queue: String) { counts.withLock { $0[queue, default: Counts()].failed += 1 } }

    func dead(queue: String) {
        counts.withLock {
            $0[queue, default: Counts()].dead += 1
            $0[queue, default: Counts()].failed += 1
        }
    }

    public var byQueue: [String: Counts] { counts.withLock { $0 } }

    public var totalProcessed: Int { counts.withLock { $0.values.reduce(0) { $0 + $1.processed } } }
}
