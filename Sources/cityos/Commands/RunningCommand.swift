import ArgumentParser
import Foundation
import Queue

/// `cityos running [QUEUE] [--limit N] [--offset N] [--json]`: the jobs of a queue (or of every
/// queue) that run now, longest first (what `GET /v1/queues/{queue}/running` and `GET /v1/running`
/// answer), as each worker process last published them with its heartbeat.
struct RunningCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "running", abstract: "List the jobs that run now (of one queue or all), longest first, with their process.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Queue name (default: every queue).") var queue: String?
    @Option(help: "Jobs to list.") var limit: Int = 50
    @Option(help: "Jobs to skip.") var offset: Int = 0
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        try PageOptions.check(limit: limit, offset: offset)
    }

    func run() async throws {
        let platform = try Platform.load(global)
        let (total, jobs) = try await RunningNow(redis: platform.redis, namespace: platform.namespace)
            .list(queue: queue, offset: offset, limit: limit)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(jobs), as: UTF8.self))
            return
        }
        print("\(total) running in \(queue ?? "every queue") (as each worker process last reported, with its heartbeat)")
        for job in jobs {
            let tenant = job.tenant.map { "  tenant=\($0)" } ?? ""
            let seconds = Int(job.runningForSeconds ?? 0)
            let progress = job.progress.map { "  progress: \($0)" } ?? ""
            let place = queue == nil ? "\(job.queue)  " : ""
            print("\(place)\(job.id)  \(job.kind)\(tenant)  attempt \(job.attempt)/\(job.maxAttempts)"
                  + "  for \(seconds)s of \(Self.seconds(job.timeoutSeconds))  on \(job.process ?? "?")\(progress)")
        }
    }

    /// `30s`, or `0.3s` for a timeout under a second.
    static func seconds(_ value: Double) -> String {
        value >= 1 && value == value.rounded() ? "\(Int(value))s" : "\(value)s"
    }
}
