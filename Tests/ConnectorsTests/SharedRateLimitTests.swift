import CityOSTesting
import Connectors
import Redis
import XCTest

/// The per-service rate limit is shared through Redis: however many processes call a service,
/// no more than N calls per second reach it.
final class SharedRateLimitTests: XCTestCase {
    func testSharedRateLimitHoldsAcrossTwoWorkerProcesses() async throws {
        let sandbox = try await SandboxHarness.start()
        do {
            let account = try await sandbox.createAccount()
            let limit = 4
            let callsEach = 8
            let environment = try sandbox.environment(["CITYOS_STRIPE_RATE_LIMIT": "\(limit)",
                                                       "CITYOS_CONNECTORS_RATE_LIMIT_WAIT_SECONDS": "30"])
            let arguments = ["connectors", "exercise", "--service", "stripe", "--calls", "\(callsEach)", "--id", account]
            let workers = try (0..<2).map { _ in try ChildProcess(arguments: arguments, environment: environment) }
            for worker in workers {
                let status = try await worker.waitForExit(timeout: .seconds(60))
                XCTAssertEqual(status, 0, "worker failed; log:\n\(worker.log)")
            }
            let calls = try await sandbox.calls("GET /stripe/v1/accounts/{id}")
            XCTAssertEqual(calls.count, 2 * callsEach, "every call reached the sandbox")
            // Admission is timed by Redis; arrival adds a few ms of jitter, hence the 50 ms margin.
            let busiest = Self.maxCalls(in: calls.times, windowMilliseconds: 950)
            XCTAssertLessThanOrEqual(busiest, limit, "more than \(limit) calls reached Stripe within one second")
            let span = (calls.times.max() ?? 0) - (calls.times.min() ?? 0)
            let floor = Double(2 * callsEach - limit) / Double(limit) * 1000 - 100
            XCTAssertGreaterThanOrEqual(span, floor, "\(2 * callsEach) calls at \(limit)/s cannot finish sooner")
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    func testTwoClientsShareOneBudgetPerService() async throws {
        let namespace = TestEnvironment.uniqueNamespace("rate")
        let limiters = try (0..<2).map { _ in SharedRateLimit(redis: try TestEnvironment.redis(), namespace: namespace) }
        let started = ContinuousClock.now
        // 12 calls at 5/s from two clients: the first 5 pass at once, the rest wait for room.
        let admitted = try await withThrowingTaskGroup(of: Duration.self) { group in
            for index in 0..<12 {
                let limiter = limiters[index % 2]
                group.addTask {
                    try await limiter.acquire(.fleetbase, limit: 5, maxWait: .seconds(10))
                    return ContinuousClock.now - started
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }.sorted()
        }
        // Upper bounds only say "did not wait for the window" (1 s): generous, since a loaded
        // machine delays calls that do not wait; the lower bounds carry the limit itself.
        XCTAssertLessThan(admitted[4], .milliseconds(900), "the first 5 calls fit in the budget and do not wait")
        XCTAssertGreaterThanOrEqual(admitted[5], .milliseconds(900), "the 6th call had to wait for the window")
        XCTAssertGreaterThanOrEqual(admitted[10], .milliseconds(1900))
        // Another service has its own budget.
        let other = ContinuousClock.now
        try await limiters[0].acquire(.erpnext, limit: 5, maxWait: .seconds(1))
        XCTAssertLessThan(ContinuousClock.now - other, .milliseconds(900), "a fresh budget does not wait for the window")
    }

    func testWaitingLongerThanAllowedIsRateLimited() async throws {
        let limiter = SharedRateLimit(redis: try TestEnvironment.redis(), namespace: TestEnvironment.uniqueNamespace("rate"))
        try await limiter.acquire(.payload, limit: 1, maxWait: .seconds(1))
        do {
            try await limiter.acquire(.payload, limit: 1, maxWait: .milliseconds(100))
            XCTFail("the window is full for another second")
        } catch {
            XCTAssertEqual(error, .rateLimited(service: .payload, retryAfter: .seconds(1)))
        }
    }

    /// The most calls that arrived within any window of `windowMilliseconds`.
    static func maxCalls(in times: [Double], windowMilliseconds: Double) -> Int {
        let sorted = times.sorted()
        var best = 0
        var start = 0
        for end in sorted.indices {
            while sorted[end] - sorted[start] >= windowMilliseconds { start += 1 }
            best = max(best, end - start + 1)
        }
        return best
    }
}
