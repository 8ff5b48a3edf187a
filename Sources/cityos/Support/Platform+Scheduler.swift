import Logging
import Queue
import Scheduler

extension Platform {
    /// The scheduler for the schedules in `scheduler.directory`, checked against the job
    /// registry. A bad file, an unknown job kind or arguments the kind rejects stop start-up
    /// here, in one line naming the file.
    func makeScheduler(observer: (@Sendable (SchedulerEvent) -> Void)? = nil) throws -> SchedulerRunner {
        let schedules = try loadSchedules()
        var logger = Logger(label: "cityos.scheduler")
        logger[metadataKey: "directory"] = "\(config.schedulesDirectory)"
        do {
            return try SchedulerRunner(
                schedules: schedules,
                client: JobClient(redis: redis, registry: registry, namespace: namespace),
                namespace: namespace, logger: logger, observer: observer)
        } catch {
            throw userError("schedules: \(error.description)")
        }
    }

    /// The schedule files of `scheduler.directory`, each job kind checked against the registry.
    func loadSchedules() throws -> [ScheduleDefinition] {
        do {
            let schedules = try ScheduleFiles.load(directory: config.schedulesDirectory)
            try schedules.validate(knownKinds: Set(registry.kinds))
            return schedules
        } catch {
            throw userError("schedules: \(error.description) (scheduler.directory = \(config.schedulesDirectory))")
        }
    }
}
