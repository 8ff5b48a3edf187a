import ArgumentParser
import Foundation
import Queue

/// `cityos scheduled QUEUE [--limit N] [--offset N | --after TIME:ID]`: what waits in a queue's schedule, soonest
/// first (what `GET /v1/queues/{queue}/scheduled` answers): retries with the error that sent them
/// there, and delayed jobs. `cityos job QUEUE ID --run-now` makes one due now.
struct ScheduledCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduled", abstract: "List a queue's retries waiting out their backoff and its delayed jobs, soonest first.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Queue name.") var queue: String
    @Option(help: "Entries to list.") var limit: Int = 50
    @Option(help: "Entries to skip.") var offset: Int = 0
    @Option(help: "Start right after this entry (TIME:ID, as the last line of a full page gives it).") var after: String?

    func validate() throws {
        try PageOptions.check(limit: limit, offset: offset)
        _ = try PageOptions.cursor(after, offset: offset)
    }

    func run() async throws {
        let platform = try Platform.load(global)
        let (total, entries) = try await ScheduledJobs(redis: platform.redis, namespace: platform.namespace)
            .list(queue: queue, offset: offset, limit: limit, after: try PageOptions.cursor(after, offset: offset))
        print("\(total) scheduled in \(queue)")
        let time = ISO8601DateFormatter()   // UTC, to the second
        for entry in entries {
            let due = time.string(from: Date(timeIntervalSince1970: Double(entry.dueAt) / 1000))
            let what = entry.isRetry ? "retry  \(entry.envelope?.errors.last?.message ?? "")" : "delayed"
            print("\(entry.id)  \(entry.envelope?.kind ?? "?")  attempts=\(entry.envelope?.attempt ?? 0)  due \(due)  \(what)")
        }
        if let next = PageOptions.nextPage(entries.count, limit: limit,
                                           last: entries.last.map { PageCursor(at: $0.dueAt, id: $0.id) }) {
            print(next)
        }
    }
}
