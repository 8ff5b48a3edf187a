import Foundation
import Queue

/// The outbox relay's state as a platform check, `outbox.relay`, where operators look
/// (`cityos status`, `GET /v1/status`, the dashboard, `/metrics`): failing, with the error, while
/// batches fail (Redis refusing them, PostgreSQL unreachable), ok once one goes through. Before,
/// the only sign was a warning in the log every second. It publishes when the state changes (and
/// once when the relay starts listening), not per batch, in the order the events came.
public final class OutboxRelayHealth: Sendable {
    public static let checkName = "outbox.relay"

    private let checks: StatusChecks
    private let events: AsyncStream<OutboxRelay.Event>
    private let feed: AsyncStream<OutboxRelay.Event>.Continuation

    public init(checks: StatusChecks) {
        self.checks = checks
        (events, feed) = AsyncStream.makeStream(of: OutboxRelay.Event.self, bufferingPolicy: .bufferingNewest(64))
    }

    /// The relay's `onEvent`.
    public func note(_ event: OutboxRelay.Event) { feed.yield(event) }

    /// Publishes state changes until the calling task is cancelled.
    public func run() async {
        var published: Bool?   // failing, as last published
        await withTaskCancellationHandler {
            for await event in events {
                let failing: Bool
                var sample: [String] = []
                switch event {
                case .sinkFailed(let message), .databaseFailed(let message):
                    failing = true
                    sample = [String(message.prefix(300))]
                case .listening, .relayed:
                    failing = false
                case .listenerFailed:
                    continue   // polling goes on meanwhile: rows are still relayed
                }
                guard failing != published else { continue }
                let check = StatusCheck(name: Self.checkName, invariants: ["failing_batches": failing ? 1 : 0], samples: sample,
                                        checkedAt: Clock.nowMillis(), jobID: "outbox-relay")
                if (try? await checks.publish(check)) != nil { published = failing }
            }
        } onCancel: { [feed] in
            feed.finish()
        }
    }
}
