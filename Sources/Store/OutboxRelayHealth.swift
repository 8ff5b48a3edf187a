import Foundation
import Queue

/// The outbox relay's state as a platform check, `outbox.relay`, where operators look
/// (`cityos status`, `GET /v1/status`, the dashboard, `/metrics`): failing, with the error, while
/// batches fail (Redis refusing them, PostgreSQL unreachable), ok once one goes through (an empty
/// outbox's batch too). Before, the only sign was a warning in the log every second. It publishes
/// when the state changes and every `refresh` besides, in the order the events came.
///
/// Every process's relay publishes the same check, so "failing" wins: a relay's "ok" does not
/// replace another's "failing" younger than two refreshes (that relay still fails, and says so
/// each refresh), only an older one (a process that died failing) or its own. A check nothing
/// refreshes for ``staleAfterSeconds`` (no relay running) says so where it is read.
public final class OutboxRelayHealth: Sendable {
    public static let checkName = "outbox.relay"
    public static let staleAfterSeconds = 300

    private let checks: StatusChecks
    private let refresh: Duration
    private let events: AsyncStream<OutboxRelay.Event>
    private let feed: AsyncStream<OutboxRelay.Event>.Continuation

    public init(checks: StatusChecks, refresh: Duration = .seconds(60)) {
        self.checks = checks
        self.refresh = refresh
        (events, feed) = AsyncStream.makeStream(of: OutboxRelay.Event.self, bufferingPolicy: .bufferingNewest(64))
    }

    /// The relay's `onEvent`.
    public func note(_ event: OutboxRelay.Event) { feed.yield(event) }

    /// Publishes state changes until the calling task is cancelled.
    public func run() async {
        var published: (failing: Bool, at: ContinuousClock.Instant)?   // as last published, or passed over
        var ownFailing: Int64?   // the `checkedAt` of this relay's last "failing"
        await withTaskCancellationHandler {
            for await event in events {
                let failing: Bool
                var sample: [String] = []
                switch event {
                case .sinkFailed(let message), .databaseFailed(let message):
                    failing = true
                    sample = [String(message.prefix(300))]
                case .relayed:
                    failing = false
                case .listening, .listenerFailed:
                    continue   // says nothing of batches: polling relays rows meanwhile, or fails to
                }
                if let published, published.failing == failing, ContinuousClock.now - published.at < refresh { continue }
                if !failing, await anotherRelayFails(ownFailing: ownFailing) {
                    published = (false, .now)   // looked again at the next refresh
                    continue
                }
                let check = StatusCheck(name: Self.checkName, invariants: ["failing_batches": failing ? 1 : 0], samples: sample,
                                        checkedAt: Clock.nowMillis(), jobID: "outbox-relay",
                                        staleAfterSeconds: Self.staleAfterSeconds)
                if (try? await checks.publish(check)) != nil {
                    published = (failing, .now)
                    if failing { ownFailing = check.checkedAt }
                }
            }
        } onCancel: { [feed] in
            feed.finish()
        }
    }

    /// Whether the check says "failing", published by another relay less than two refreshes ago.
    private func anotherRelayFails(ownFailing: Int64?) async -> Bool {
        guard let current = (try? await checks.read())?.first(where: { $0.name == Self.checkName }),
              current.invariants["failing_batches", default: 0] > 0, current.checkedAt != ownFailing else { return false }
        return .milliseconds(Clock.nowMillis() - current.checkedAt) < refresh * 2
    }
}
