import Synchronization

/// This process's webhook outcomes by source and inbox status (`processed`, `ignored`, `failed`),
/// for `/metrics`: the process that serves metrics forwards them (`forward(to:)`) to its
/// Prometheus counters (`cityos_webhook_events_total`). Counting is a dictionary update under a lock.
public final class WebhookOutcomeCounter: Sendable {
    /// The counter every webhook job of this process reports to.
    public static let process = WebhookOutcomeCounter()

    public struct Key: Hashable, Sendable {
        public var source: String
        public var outcome: String
    }

    private let counts = Mutex<[Key: Int]>([:])
    private let forwarding = Mutex<Forward?>(nil)

    /// A box, so the callback is stored as a class reference.
    private final class Forward: Sendable {
        let callback: @Sendable (_ source: String, _ outcome: String) -> Void
        init(_ callback: @escaping @Sendable (String, String) -> Void) { self.callback = callback }
    }

    public init() {}

    /// Also calls `callback` for every outcome counted from now on (e.g. a Prometheus counter).
    public func forward(to callback: @escaping @Sendable (_ source: String, _ outcome: String) -> Void) {
        let forward = Forward(callback)
        forwarding.withLock { $0 = forward }
    }

    func count(source: String, outcome: String) {
        counts.withLock { $0[Key(source: source, outcome: outcome), default: 0] += 1 }
        forwarding.withLock { $0 }?.callback(source, outcome)
    }

    /// The counts so far.
    public var snapshot: [Key: Int] { counts.withLock { $0 } }

    /// The count of one source and outcome so far.
    public func total(source: String, outcome: String) -> Int {
        counts.withLock { $0[Key(source: source, outcome: outcome)] ?? 0 }
    }
}
