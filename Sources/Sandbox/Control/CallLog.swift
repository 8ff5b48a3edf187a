import Foundation
import Synchronization

/// Every call the sandbox answered, by endpoint (`POST /stripe/v1/payment_intents`), with the
/// time each arrived, in milliseconds since the sandbox started: what a test counts and times.
final class CallLog: Sendable {
    private let calls = Mutex<[String: [Double]]>([:])
    private let start = ContinuousClock.now

    func record(_ endpoint: String) {
        let elapsed = ContinuousClock.now - start
        let millis = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        calls.withLock { $0[endpoint, default: []].append(millis) }
    }

    /// `{"calls": {"<endpoint>": {"count": n, "at_ms": [...]}}}`.
    var json: SandboxJSON {
        let snapshot = calls.withLock { $0 }
        var members: [String: SandboxJSON] = [:]
        for (endpoint, times) in snapshot {
            members[endpoint] = ["count": .int(times.count),
                                 "at_ms": .array(times.map { .decimal(Decimal(Int(($0 * 1000).rounded())) / 1000) })]
        }
        return ["calls": .object(members)]
    }

    func reset() { calls.withLock { $0 = [:] } }
}
