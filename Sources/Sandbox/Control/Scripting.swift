import Foundation
import Synchronization

/// Outcomes a test scripts ahead: the next N calls to an endpoint fail with a status, are rate
/// limited with a `Retry-After`, or hang; the next N off-session charges of a customer are
/// declined. Scripted failures happen in front of the service, before it runs: nothing is saved
/// for an idempotency key, so a retry with the same key reaches the service afresh. Two outcomes
/// are behind the service: it runs and keeps what it did, and its success answer is replaced —
/// by a cut-off body (`garble`: a proxy or a network that lost the end of the answer), or by an
/// error (`failBehind`: Stripe's own 500 after the work was done, which Stripe saves under the
/// request's idempotency key and answers to every retry with that key while it keeps the key).
final class Scripting: Sendable {
    enum Outcome: Sendable, Equatable {
        /// `retryAfter`: a `Retry-After` header (seconds), as a 503 often carries. `byProxy`: the
        /// answer of something in front of the service (a proxy, a gateway, a wrong URL), a plain
        /// text body rather than the service's error object.
        case fail(status: Int, retryAfter: Int?, byProxy: Bool = false)
        case rateLimit(retryAfter: Int)
        case hang(seconds: Double)
        case garble
        case failBehind(status: Int)

        /// Played after the service ran, on its answer.
        var isBehind: Bool {
            switch self {
            case .garble, .failBehind: return true
            default: return false
            }
        }
    }

    /// The outcome behind the service for the request being handled (set around the handler), so
    /// that an endpoint with idempotency saves the answer the caller gets.
    @TaskLocal static var behind: Outcome?

    /// A customer's next charges scripted to stay unsettled.
    struct Unsettled: Sendable, Equatable {
        /// `processing` or `requires_action`.
        var status: String
        /// The `next_action` type of a `requires_action`.
        var nextAction: String?
        /// Answer `requires_action` for an authentication even to an off-session charge, which
        /// Stripe itself declines instead (402 `authentication_required`): to test a client's guard
        /// for a PaymentIntent that waits for an authentication nobody is there to give.
        var evenOffSession = false
        var left: Int

        /// Whether the customer's bank asks them to authenticate (3-D Secure), rather than for a
        /// payment they make later (bank transfer instructions, a voucher, microdeposits).
        var asksForAuthentication: Bool {
            status == "requires_action" && (nextAction == "use_stripe_sdk" || nextAction == "redirect_to_url")
        }
    }

    struct Decline: Sendable {
        var code: String
        var remaining: Int
    }

    private struct State {
        var outcomes: [String: [Outcome]] = [:]
        var declines: [String: Decline] = [:]
        /// Customers whose next charges stay unsettled, by count, with the status Stripe answers:
        /// `processing` (a bank debit), `requires_action` (the bank asks the customer to authenticate).
        var unsettled: [String: Unsettled] = [:]
        /// Calls held by a `hang`, woken by `releaseAll()`.
        var hanging: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    func script(_ endpoint: String, _ outcome: Outcome, times: Int) {
        state.withLock { $0.outcomes[endpoint, default: []].append(contentsOf: repeatElement(outcome, count: times)) }
    }

    /// The next scripted outcome for `endpoint`, used up as it is taken.
    func take(_ endpoint: String) -> Outcome? {
        state.withLock { state in
            guard var queue = state.outcomes[endpoint], !queue.isEmpty else { return nil }
            let outcome = queue.removeFirst()
            state.outcomes[endpoint] = queue.isEmpty ? nil : queue
            return outcome
        }
    }

    func decline(customer: String, code: String, times: Int) {
        state.withLock { $0.declines[customer] = Decline(code: code, remaining: times) }
    }

    func leaveUnsettled(customer: String, _ unsettled: Unsettled) {
        state.withLock { $0.unsettled[customer] = unsettled }
    }

    /// What this customer's next charge is scripted to stay in, if anything (used up as taken).
    func takeUnsettled(customer: String?) -> Unsettled? {
        guard let customer else { return nil }
        return state.withLock { state in
            guard var held = state.unsettled[customer], held.left > 0 else { return nil }
            held.left -= 1
            state.unsettled[customer] = held.left > 0 ? held : nil
            return held
        }
    }

    /// The decline code for this customer's next charge, if one is scripted (used up as taken).
    func takeDecline(customer: String?) -> String? {
        guard let customer else { return nil }
        return state.withLock { state in
            guard var decline = state.declines[customer], decline.remaining > 0 else { return nil }
            decline.remaining -= 1
            state.declines[customer] = decline.remaining > 0 ? decline : nil
            return decline.code
        }
    }

    /// What is scripted and not yet used, for `GET /_sandbox/script`.
    var json: SandboxJSON {
        state.withLock { state in
            var outcomes: [String: SandboxJSON] = [:]
            for (endpoint, queue) in state.outcomes {
                outcomes[endpoint] = .array(queue.map { outcome in
                    switch outcome {
                    case .fail(let status, let after, let byProxy):
                        return ["kind": "fail", "status": .int(status), "retry_after": after.map { .int($0) } ?? .null,
                                "from": byProxy ? "proxy" : "service"]
                    case .rateLimit(let after): return ["kind": "rate_limit", "retry_after": .int(after)]
                    case .hang(let seconds): return ["kind": "hang", "seconds": .decimal(Decimal(seconds))]
                    case .garble: return ["kind": "garble"]
                    case .failBehind(let status): return ["kind": "fail_behind", "status": .int(status)]
                    }
                })
            }
            var declines: [String: SandboxJSON] = [:]
            for (customer, decline) in state.declines {
                declines[customer] = ["decline_code": .string(decline.code), "times": .int(decline.remaining)]
            }
            var unsettled: [String: SandboxJSON] = [:]
            for (customer, held) in state.unsettled {
                unsettled[customer] = ["status": .string(held.status), "next_action": held.nextAction.json,
                                       "even_off_session": .bool(held.evenOffSession), "times": .int(held.left)]
            }
            return ["endpoints": .object(outcomes), "declines": .object(declines), "unsettled": .object(unsettled)]
        }
    }

    /// Holds the caller for `duration`, or until `releaseAll()` (reset, stop), whichever is first.
    func hang(for duration: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: duration) }
            group.addTask { await self.waitForRelease() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForRelease() async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.hanging[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { $0.hanging.removeValue(forKey: id) }
            continuation?.resume()
        }
    }

    /// Wakes every hanging call (reset, stop).
    func releaseAll() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            defer { state.hanging = [:] }
            return Array(state.hanging.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    func reset() {
        state.withLock { state in
            state.outcomes = [:]
            state.declines = [:]
        }
        releaseAll()
    }
}
