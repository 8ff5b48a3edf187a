import ArgumentParser
import Foundation
import Queue

/// `cityos dead list|show|retry|delete QUEUE [ID|--all] [--kind KIND] [--error TEXT]`: with
/// `--kind` or `--error`, `list` and `--all` take only the dead letters of that kind or whose last
/// error contains that text (ignoring case).
struct DeadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead", abstract: "List, inspect, replay or delete dead letters.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "list, show, retry or delete.") var action: Action
    @Argument(help: "Queue name.") var queue: String
    @Argument(help: "Job id (show, retry, delete).") var id: String?
    @Flag(help: "Every dead letter of the queue (retry, delete).") var all = false
    @Option(help: "Entries to list.") var limit: Int = 50
    @Option(help: "Entries to skip when listing.") var offset: Int = 0
    @Option(help: "List from right after this entry (TIME:ID, as the last line of a full page gives it).") var after: String?
    @Option(help: "Only dead letters of this job kind (list, --all).") var kind: String?
    @Option(help: "Only dead letters whose last error contains this text, ignoring case (list, --all).") var error: String?

    private var filter: DeadLetters.Filter { DeadLetters.Filter(kind: kind, errorContains: error) }

    enum Action: String, ExpressibleByArgument, CaseIterable { case list, show, retry, delete }

    func validate() throws {
        try PageOptions.check(limit: limit, offset: offset)
        _ = try PageOptions.cursor(after, offset: offset)
        if action != .list, after != nil || offset != 0 {
            throw ValidationError("--after and --offset go with list (retry and delete --all take every letter, or --kind/--error)")
        }
        if (kind != nil || error != nil), action != .list, !all {
            throw ValidationError("--kind and --error go with list or --all")
        }
        switch action {
        case .list: break
        case .show: if id == nil { throw ValidationError("dead show needs a job id") }
        case .retry, .delete:
            if (id == nil) == !all { throw ValidationError("dead \(action.rawValue) needs a job id or --all (one of them)") }
        }
    }

    func run() async throws {
        let platform = try Platform.load(global)
        let dead = DeadLetters(redis: platform.redis, namespace: platform.namespace)
        try await refusalsAsUserErrors {
            switch action {
            case .list:
                let (total, entries) = try await dead.list(queue: queue, offset: offset, limit: limit,
                                                           after: try PageOptions.cursor(after, offset: offset), filter: filter)
                print("\(total) dead in \(queue)" + (filter.isEmpty ? "" : " taken by the filter"))
                let time = ISO8601DateFormatter()   // UTC, to the second
                for e in entries {
                    let last = e.envelope?.errors.last?.message ?? "unreadable envelope"
                    let died = time.string(from: Date(timeIntervalSince1970: Double(e.diedAt) / 1000))
                    print("\(e.id)  \(e.envelope?.kind ?? "?")  attempts=\(e.envelope?.attempt ?? 0)  died \(died)  \(last)")
                }
                if let next = PageOptions.nextPage(entries.count, limit: limit,
                                                   last: entries.last.map { PageCursor(at: $0.diedAt, id: $0.id) }) {
                    print(next)
                }
            case .show:
                try printJSON(try await dead.show(queue: queue, id: id ?? ""))
            case .retry:
                if all { print(try await dead.retryAll(queue: queue, filter: filter).summary) } else {
                    try await dead.retry(queue: queue, id: id ?? "")
                    print("replayed \(id ?? "")")
                }
            case .delete:
                if all { print("deleted \(try await dead.deleteAll(queue: queue, filter: filter))") } else {
                    try await dead.delete(queue: queue, id: id ?? "")
                    print("deleted \(id ?? "")")
                }
            }
        }
    }
}
