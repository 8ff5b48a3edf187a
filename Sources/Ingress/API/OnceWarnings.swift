import Synchronization

/// Logs a configuration problem once per process, not once per request.
final class OnceWarnings: Sendable {
    private let seen = Mutex<Set<String>>([])

    func once(_ key: String, _ log: () -> Void) {
        if seen.withLock({ $0.insert(key).inserted }) { log() }
    }
}
