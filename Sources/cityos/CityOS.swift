import ArgumentParser

/// `cityos` — one executable for every role of the platform.
@main
struct CityOS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cityos",
        abstract: "CityOS Workers: the integration layer of the CityOS commerce platform.",
        subcommands: [
            RunCommand.self, ServeCommand.self, WorkCommand.self, MigrateCommand.self, ConfigCommand.self,
            EnqueueCommand.self, StatusCommand.self, JobCommand.self, DeadCommand.self, QueueCommand.self,
            ScheduledCommand.self, RunningCommand.self, BenchCommand.self, ScheduleCommand.self, SchedulesCommand.self,
            SandboxCommand.self, ConnectorsCommand.self, PayoutsCommand.self,
        ]
    )
}

/// Options every command accepts.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "Configuration file (default: Config/cityos.yaml or $CITYOS_CONFIG).")
    var configFile: String?
}
