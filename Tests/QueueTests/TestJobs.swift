import CityOSTesting
import Jobs
import Queue
import Synchronization

/// `test.switch`: fails while its switch is on; lets a test decide when a job may succeed.
struct SwitchJob: JobHandler {
    struct Arguments: Codable, Sendable {}
    struct Refused: Error, CustomStringConvertible { var description: String { "switch is on" } }
    static let kind = "test.switch"
    static let options = JobOptions(queue: "default", retry: .exponentialJitter(maxAttempts: 2, base: .milliseconds(50)),
                                    timeout: .seconds(5))
    let failing: Switch
    func run(_ arguments: Arguments, context: JobContext) async throws {
        if failing.isOn { throw Refused() }
    }
}

/// `test.hinted`: always fails, saying (or not) how long a retry cannot help (`RetryAfterHint`).
struct HintedJob: JobHandler {
    struct Arguments: Codable, Sendable { var seconds: Int? }
    struct Busy: RetryAfterHint, CustomStringConvertible {
        var retryAfter: Duration?
        var description: String { "busy" }
    }
    static let kind = "test.hinted"
    static let options = JobOptions(queue: "default", retry: .exponentialJitter(maxAttempts: 3, base: .milliseconds(50)),
                                    timeout: .seconds(5))
    func run(_ arguments: Arguments, context: JobContext) async throws {
        throw Busy(retryAfter: arguments.seconds.map { .seconds($0) })
    }
}

final class Switch: Sendable {
    private let on = Mutex(true)
    var isOn: Bool { on.withLock { $0 } }
    func turnOff() { on.withLock { $0 = false } }
}

/// `test.slow`: sleeps far longer than its 300 ms timeout.
struct SlowJob: JobHandler {
    struct Arguments: Codable, Sendable {}
    static let kind = "test.slow"
    static let options = JobOptions(queue: "default", retry: .dontRetry, timeout: .milliseconds(300))
    func run(_ arguments: Arguments, context: JobContext) async throws {
        try await Task.sleep(for: .seconds(30))
    }
}

/// `test.progress`: reports each of its notes, then sleeps until cancelled (or 30 s).
struct ProgressJob: JobHandler {
    struct Arguments: Codable, Sendable { var notes: [String] }
    static let kind = "test.progress"
    static let options = JobOptions(queue: "default", retry: .dontRetry, timeout: .seconds(60))
    func run(_ arguments: Arguments, context: JobContext) async throws {
        for note in arguments.notes { context.reportProgress(note) }
        try await Task.sleep(for: .seconds(30))
    }
}

/// `test.gate`: waits until its gate opens, then succeeds or fails as the gate says; lets a test
/// decide when a running job ends, and how.
struct GateJob: JobHandler {
    struct Arguments: Codable, Sendable {}
    struct Refused: Error, CustomStringConvertible { var description: String { "the gate says fail" } }
    static let kind = "test.gate"
    static let options = JobOptions(queue: "default", retry: .exponentialJitter(maxAttempts: 2, base: .milliseconds(50)),
                                    timeout: .seconds(60))
    let gate: Gate
    func run(_ arguments: Arguments, context: JobContext) async throws {
        if await gate.passed() == .fail { throw Refused() }
    }
}

extension GateJob {
    /// A queue harness whose registry has the catalog's kinds and `test.gate`, and the gate.
    static func harness() throws -> (Gate, QueueHarness) {
        let gate = Gate()
        var registry = JobCatalog.registry()
        registry.register(GateJob(gate: gate))
        return (gate, try QueueHarness(registry: registry))
    }
}

/// Closed until `open(_:)`; every job waiting at it then passes with the outcome it was opened with.
final class Gate: Sendable {
    enum Outcome: Sendable { case succeed, fail }
    private struct State {
        var outcome: Outcome?
        var waiting: [CheckedContinuation<Outcome, Never>] = []
    }
    private let state = Mutex(State())

    func passed() async -> Outcome {
        await withCheckedContinuation { waiter in
            let now: Outcome? = state.withLock { state in
                if let outcome = state.outcome { return outcome }
                state.waiting.append(waiter)
                return nil
            }
            if let now { waiter.resume(returning: now) }
        }
    }

    func open(_ outcome: Outcome = .succeed) {
        let waiting = state.withLock { state in
            state.outcome = outcome
            defer { state.waiting = [] }
            return state.waiting
        }
        for waiter in waiting { waiter.resume(returning: outcome) }
    }
}

/// `test.stubborn`: its first attempt outlives its 2 s timeout by a second, deaf to cancellation,
/// then fails; later attempts take 1.5 s and succeed. Retries come after 100 ms, so the late end
/// of the first (3 s in) falls while the second runs (about 2.1 s to 3.6 s in).
struct StubbornJob: JobHandler {
    struct Arguments: Codable, Sendable {}
    struct LateFailure: Error, CustomStringConvertible { var description: String { "failed late" } }
    static let kind = "test.stubborn"
    static let options = JobOptions(queue: "default",
                                    retry: RetryPolicy(maxAttempts: 4, base: .milliseconds(100), cap: .milliseconds(100), jitter: 0),
                                    timeout: .seconds(2))
    func run(_ arguments: Arguments, context: JobContext) async throws {
        if context.attempt == 1 {
            // A detached sleep is not cancelled with this task: the handler ignores its timeout.
            await Task.detached { try? await Task.sleep(for: .seconds(3)) }.value
            throw LateFailure()
        }
        try await Task.sleep(for: .milliseconds(1_500))
    }
}

/// `test.deaf`: runs 3 s whatever happens, deaf to its 300 ms timeout's cancellation, then throws
/// (as a handler whose cancellation surfaced late would).
struct DeafJob: JobHandler {
    struct Arguments: Codable, Sendable {}
    struct Cancelled: Error {}
    static let kind = "test.deaf"
    static let runs: Duration = .seconds(3)
    static let options = JobOptions(queue: "default", retry: .dontRetry, timeout: .milliseconds(300))
    func run(_ arguments: Arguments, context: JobContext) async throws {
        await Task.detached { try? await Task.sleep(for: Self.runs) }.value
        throw Cancelled()
    }
}

/// `test.late-success`: deaf to its 300 ms timeout, it finishes its work a second in, and succeeds.
struct LateSuccessJob: JobHandler {
    struct Arguments: Codable, Sendable {}
    static let kind = "test.late-success"
    static let options = JobOptions(queue: "default",
                                    retry: RetryPolicy(maxAttempts: 3, base: .milliseconds(50), cap: .milliseconds(50), jitter: 0),
                                    timeout: .milliseconds(300))
    func run(_ arguments: Arguments, context: JobContext) async throws {
        await Task.detached { try? await Task.sleep(for: .seconds(1)) }.value
    }
}

/// `test.never-returns`: deaf to its 200 ms timeout, its handler runs 10 s (for a test, for ever).
struct NeverReturnsJob: JobHandler {
    struct Arguments: Codable, Sendable {}
    static let kind = "test.never-returns"
    static let options = JobOptions(queue: "default", retry: .dontRetry, timeout: .milliseconds(200))
    func run(_ arguments: Arguments, context: JobContext) async throws {
        await Task.detached { try? await Task.sleep(for: .seconds(10)) }.value
    }
}
