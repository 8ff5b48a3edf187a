import ArgumentParser
import Queue

/// `cityos job QUEUE ID [--cancel [--reason TEXT]]`: where one job is now (what
/// `GET /v1/queues/{queue}/jobs/{id}` answers), or cancel it before it starts (`JobCancel`).
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "Show where one job is: ready, scheduled, in flight or dead, with its envelope; or cancel it.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Queue name.") var queue: String
    @Argument(help: "Job id.") var id: String
    @Flag(help: "Cancel the job if it has not started: it becomes a dead letter (`cityos dead retry` undoes it).")
    var cancel = false
    @Option(help: "Why (with --cancel; kept in the job's error history, at most 200 bytes).") var reason: String?

    func validate() throws {
        if reason != nil, !cancel { throw ValidationError("--reason goes with --cancel") }
    }

    func run() async throws {
        let platform = try Platform.load(global)
        if cancel {
            do {
                _ = try await JobCancel(redis: platform.redis, namespace: platform.namespace).cancel(queue: queue, id: id, reason: reason)
            } catch let failure as JobCancel.Failure {
                throw userError(failure.description)
            } catch let failure as OperatorReason.TooLong {
                throw userError(failure.description)
            }
            print("cancelled \(id): now a dead letter of \(queue) (`cityos dead retry \(queue) \(id)` would run it after all)")
            return
        }
        guard let job = try await JobLookup(redis: platform.redis, namespace: platform.namespace).find(queue: queue, id: id) else {
            throw userError(JobLookup.notFound(queue: queue, id: id))
        }
        try printJSON(job)
    }
}
