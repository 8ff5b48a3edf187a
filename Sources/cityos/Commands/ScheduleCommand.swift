import ArgumentParser
import Scheduler

/// `cityos schedule`: a scheduler process. Any number may run against one Redis; each tick of
/// each schedule is enqueued once (see docs/scheduler.md).
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Run the scheduler: enqueue each schedule's jobs on time until SIGTERM.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let platform = try Platform.load(global, label: "cityos.scheduler")
        let scheduler = try platform.makeScheduler()
        let signals = TerminationSignals { scheduler.stop() }
        defer { signals.cancel() }
        await scheduler.run()
        platform.redis.shutdown()
    }
}
