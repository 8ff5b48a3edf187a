import ArgumentParser
import Queue

/// `cityos job QUEUE ID [--cancel [--reason TEXT] | --run-now]`: where one job is now (what
/// `GET /v1/queues/{queue}/jobs/{id}` answers); or cancel it before it starts (`JobCancel`); or
/// make a scheduled one due now (`ScheduledJobs.runNow`).
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Show where one job is: ready, scheduled, in flight or dead, with its envelope; cancel it; or run a scheduled one now.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Queue name.") var queue: String
    @Argument(help: "Job id.") var id: String
    @Flag(help: "Cancel the job if it has not started: it becomes a dead letter (`cityos dead retry` undoes it).")
    var cancel = false
    @Option(help: "Why (with --cancel; kept in the job's error history, at most 200 bytes).") var reason: String?
    @Flag(help: "Make a scheduled job (a retry waiting out its backoff, or a delayed job) due now.") var runNow = false

    func validate() throws {
        if reason != nil, !cancel { throw ValidationError("--reason goes with --cancel") }
        if cancel, runNow { throw ValidationError("--cancel and --run-now exclude each other") }
    }

    func run() async throws {
        let platform = try Platform.load(global)
        if runNow {
            try await refusalsAsUserErrors {
                try await ScheduledJobs(redis: platform.redis, namespace: platform.namespace).runNow(queue: queue, id: id)
            }
            print("\(id) is due now: a worker of \(queue) takes it within a second")
            return
        }
        if cancel {
            _ = try await refusalsAsUserErrors {
                try await JobCancel(redis: platform.redis, namespace: platform.namespace).cancel(queue: queue, id: id, reason: reason)
            }
            print("cancelled \(id): now a dead letter of \(queue) (`cityos dead retry \(queue) \(id)` would run it after all)")
            return
        }
        let lookup = JobLookup(redis: platform.redis, namespace: platform.namespace)
        guard let job = try await lookup.find(queue: queue, id: id) else {
            throw userError(JobLookup.notFound(queue: queue, id: id, droppedAt: try await lookup.droppedAt(queue: queue, id: id)))
        }
        try printJSON(job)
    }
}
