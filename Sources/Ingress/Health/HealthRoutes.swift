import Hummingbird
import Synchronization

/// `GET /healthz`: the process is alive (no dependency is consulted).
/// `GET /readyz`: every readiness check passes within `timeout`; 503 otherwise.
struct HealthRoutes: Sendable {
    let checks: [ReadinessCheck]
    let timeout: Duration

    struct CheckResult: Encodable, Sendable {
        var name: String
        var ok: Bool
        var error: String?
    }

    struct Readiness: Encodable {
        var status: String
        var checks: [CheckResult]
        var error: ErrorBody?
    }

    struct ErrorBody: Encodable {
        var code: String
        var message: String
    }

    func register(on router: Router<IngressContext>) {
        router.get("/healthz") { _, _ in try JSONText.response(["status": "ok"]) }
        router.get("/readyz") { _, _ in
            let results = await self.runChecks()
            let failed = results.filter { !$0.ok }
            guard failed.isEmpty else {
                let message = failed.map { "\($0.name): \($0.error ?? "failed")" }.joined(separator: "; ")
                return try JSONText.response(
                    Readiness(status: "not_ready", checks: results, error: ErrorBody(code: "not_ready", message: message)),
                    status: .serviceUnavailable)
            }
            return try JSONText.response(Readiness(status: "ready", checks: results, error: nil))
        }
    }

    /// Runs every check at once; a check that has not answered by the deadline fails.
    func runChecks() async -> [CheckResult] {
        await withTaskGroup(of: (Int, CheckResult).self) { group in
            for (index, check) in checks.enumerated() {
                group.addTask { (index, await Self.run(check, timeout: self.timeout)) }
            }
            var results = [CheckResult?](repeating: nil, count: checks.count)
            for await (index, result) in group { results[index] = result }
            return results.compactMap { $0 }
        }
    }

    /// One check, raced against `timeout`. The check runs in a task of its own that is not
    /// awaited once the deadline passes: a check deaf to cancellation (a PostgreSQL query on a
    /// connection whose packets vanish) would otherwise hold the answer until TCP gave up.
    private static func run(_ check: ReadinessCheck, timeout: Duration) async -> CheckResult {
        let first = FirstAnswer()
        return await withCheckedContinuation { continuation in
            first.start(continuation)
            let work = Task {
                do {
                    try await check.check()
                    first.answer(CheckResult(name: check.name, ok: true))
                } catch {
                    first.answer(CheckResult(name: check.name, ok: false, error: "\(error)"))
                }
            }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                guard !Task.isCancelled else { return }
                if first.answer(CheckResult(name: check.name, ok: false, error: "no answer within \(timeout)")) { work.cancel() }
            }
            first.onAnswer { timer.cancel() }
        }
    }

    /// Resumes a continuation with the first of several answers; the others are dropped.
    private final class FirstAnswer: Sendable {
        private struct State {
            var continuation: CheckedContinuation<CheckResult, Never>?
            var early: CheckResult?
            var answered = false
            var then: (@Sendable () -> Void)?
        }
        private let state = Mutex(State())

        func start(_ continuation: CheckedContinuation<CheckResult, Never>) {
            let early = state.withLock { state -> CheckResult? in
                if let early = state.early { return early }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(returning: early) }
        }

        /// Runs `then` once an answer came (at once if one has).
        func onAnswer(_ then: @escaping @Sendable () -> Void) {
            let now = state.withLock { state -> Bool in
                if state.answered { return true }
                state.then = then
                return false
            }
            if now { then() }
        }

        /// True for the answer that counts.
        @discardableResult
        func answer(_ result: CheckResult) -> Bool {
            let (won, continuation, then) = state.withLock { state -> (Bool, CheckedContinuation<CheckResult, Never>?, (@Sendable () -> Void)?) in
                guard !state.answered else { return (false, nil, nil) }
                state.answered = true
                if state.continuation == nil { state.early = result }
                defer { state.continuation = nil; state.then = nil }
                return (true, state.continuation, state.then)
            }
            continuation?.resume(returning: result)
            then?()
            return won
        }
    }
}
