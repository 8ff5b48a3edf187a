import Foundation
import Queue

/// The outbox relay's state as a platform check, `outbox.relay`, where operators look
/// (`cityos status`, `GET /v1/status`, the dashboard, `/metrics`): failing, with the error, while
/// batches fail (Redis refusing them, PostgreSQL unreachable), ok once one goes through (an empty
/// outbox's batch too). Before, the only sign was a warning in the log every second. It publishes
/// when the state changes and every `refresh` besides, in the order the events came.
///
/// Every process's relay publishes the same check: the refresh lets a live relay's "ok" replace
/// the "failing" of a process that died failing, and a check nothing refreshes for
/// ``staleAfterSeconds`` (no relay running) says so where it is read.
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
        var published: (failing: Bool, at: ContinuousClock.Instant)?   // as last published
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
                let check = StatusCheck(name: Self.checkName, invariants: ["failing_batches": failing ? 1 : 0], samples: sample,
                                        checkedAt: Clock.nowMillis(), jobID: "outbox-relay",
                                        staleAfterSeconds: Self.staleAfterSeconds)
                if (try? await checks.publish(check)) != nil { published = (failing, .now) }
            }
        } onCancel: { [feed] in
            feed.finish()
        }
    }
}
