import ArgumentParser
import Queue

/// `cityos job QUEUE ID`: where one job is now (what `GET /v1/queues/{queue}/jobs/{id}` answers).
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "Show where one job is: ready, scheduled, in flight or dead, with its envelope.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Queue name.") var queue: String
    @Argument(help: "Job id.") var id: String

    func run() async throws {
        let platform = try Platform.load(global)
        guard let job = try await JobLookup(redis: platform.redis, namespace: platform.namespace).find(queue: queue, id: id) else {
            throw userError(JobLookup.notFound(queue: queue, id: id))
        }
        try printJSON(job)
    }
}
