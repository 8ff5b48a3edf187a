import Hummingbird

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

    private static func run(_ check: ReadinessCheck, timeout: Duration) async -> CheckResult {
        await withTaskGroup(of: CheckResult?.self) { group in
            group.addTask {
                do {
                    try await check.check()
                    return CheckResult(name: check.name, ok: true)
                } catch {
                    return CheckResult(name: check.name, ok: false, error: "\(error)")
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : CheckResult(name: check.name, ok: false, error: "no answer within \(timeout)")
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? CheckResult(name: check.name, ok: false, error: "cancelled")
        }
    }
}
