import Foundation
import Synchronization

/// Stripe's idempotency, kept for the life of the process (or until expired by the control API,
/// as Stripe's 24 hours would): the first request with a key saves
/// its status and body once the endpoint has run (a 500 included); a repeat with the same
/// parameters gets them back (`Idempotent-Replayed: true`); with other parameters, a 400
/// `idempotency_error`; while the first still runs, a 409. Requests that fail validation save nothing.
final class IdempotencyStore: Sendable {
    struct Saved: Sendable {
        let status: Int
        let body: SandboxJSON
    }

    enum Claim: Sendable {
        /// No request has used the key: the caller runs the endpoint, then `finish` or `release`.
        case claimed
        /// The same request ran before: answer what it answered.
        case replay(Saved)
        /// The key was used for different parameters.
        case mismatch
        /// A request with the key is still running.
        case inProgress
    }

    private enum Entry {
        case running(fingerprint: String)
        case done(fingerprint: String, saved: Saved)
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// Keys are scoped by API key (each Stripe account has its own), then the key itself.
    func claim(scope: String, key: String, fingerprint: String) -> Claim {
        entries.withLock { entries in
            let id = scope + "\u{0}" + key
            switch entries[id] {
            case nil:
                entries[id] = .running(fingerprint: fingerprint)
                return .claimed
            case .running(let first):
                return first == fingerprint ? .inProgress : .mismatch
            case .done(let first, let saved):
                return first == fingerprint ? .replay(saved) : .mismatch
            }
        }
    }

    /// Saves the endpoint's answer for the key.
    func finish(scope: String, key: String, fingerprint: String, saved: Saved) {
        entries.withLock { $0[scope + "\u{0}" + key] = .done(fingerprint: fingerprint, saved: saved) }
    }

    /// Forgets the key: the request failed validation, so nothing is saved.
    func release(scope: String, key: String) {
        entries.withLock { _ = $0.removeValue(forKey: scope + "\u{0}" + key) }
    }

    func reset() { entries.withLock { $0 = [:] } }

    /// Forgets `key` (in every scope), or every key when nil, as Stripe does 24 hours after a key's
    /// first use; the objects made stay. Returns how many were forgotten.
    func expire(key: String?) -> Int {
        entries.withLock { entries in
            let gone = entries.keys.filter { id in key.map { id.hasSuffix("\u{0}" + $0) } ?? true }
            for id in gone { entries.removeValue(forKey: id) }
            return gone.count
        }
    }
}
