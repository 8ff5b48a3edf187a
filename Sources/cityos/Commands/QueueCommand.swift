import ArgumentParser
import Foundation
import Queue

/// `cityos queue pause|resume QUEUE [--reason TEXT]`: the operator's brake on one queue
/// (`QueuePause`; what `POST /v1/queues/{queue}/pause` and `/resume` do).
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Pause a queue (its workers take no new job from it) or resume it.",
        discussion: """
        While a queue is paused, jobs in flight finish, enqueues are accepted and wait, and delayed
        jobs and retries become ready when due; no worker process takes a new job from it until it
        is resumed. The pause is kept in Redis: it outlives restarts and holds for every process.
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "pause or resume.") var action: Action
    @Argument(help: "Queue name.") var queue: String
    @Option(help: "Why (pause; shown in the status, at most 200 bytes).") var reason: String?

    enum Action: String, ExpressibleByArgument, CaseIterable { case pause, resume }

    func validate() throws {
        guard KeyName.isValid(queue) else { throw ValidationError("the queue name must be \(KeyName.rule)") }
        if action == .resume, reason != nil { throw ValidationError("--reason goes with pause") }
    }

    func run() async throws {
        let platform = try Platform.load(global)
        let pauses = QueuePause(redis: platform.redis, namespace: platform.namespace)
        switch action {
        case .pause:
            let state = try await refusalsAsUserErrors { try await pauses.pause(queue: queue, reason: reason) }
            print("paused \(queue) \(Self.since(state))")
        case .resume:
            let before = try await pauses.state(queue: queue)
            _ = try await pauses.resume(queue: queue)
            print(before.paused ? "resumed \(queue) (paused \(Self.since(before)))" : "\(queue) was not paused")
        }
    }

    /// "since 2026-12-04T21:58:44Z (reason)".
    static func since(_ state: QueuePause.State) -> String {
        let at = state.pausedAt.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double($0) / 1000)) }
        return "since \(at ?? "?")" + (state.reason.map { " (\($0))" } ?? "")
    }
}
