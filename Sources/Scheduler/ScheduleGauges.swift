import Queue

extension ScheduleStatus {
    /// The status as gauges for `GET /metrics`, so that monitoring can page on what `cityos status`
    /// prints in red: `cityos_schedule_alerts` counts the alert lines (``alerts``); per schedule, a
    /// missed tick, a file the running schedulers do not run as it is, a last job retrying, dead or dropped,
    /// and when its last tick ran (for "nothing ran for a day" rules).
    public var gaugeReadings: [GaugeReading] {
        var readings = [
            GaugeReading("cityos_schedule_alerts",
                         "Schedule alerts now, as `cityos status` lists them (no scheduler running, a missed tick, "
                            + "a file not run as it is, a schedule run without its file, a last job retrying, dead or dropped).",
                         [], Double(alerts.count)),
            GaugeReading("cityos_schedulers_running", "Live scheduler processes (0: no schedule is enqueued).",
                         [], Double(runningSchedulers.count)),
            GaugeReading("cityos_schedules_run_without_file",
                         "Schedules a running scheduler runs though their file is gone.", [], Double(runWithoutFile.count)),
        ]
        for schedule in schedules {
            let label = [GaugeReading.Label("schedule", schedule.name)]
            readings.append(GaugeReading("cityos_schedule_enabled", "1 if the schedule is enabled in its file.",
                                         label, schedule.enabled ? 1 : 0))
            readings.append(GaugeReading("cityos_schedule_missed_tick",
                                         "1 while a tick of the schedule is over a minute late and not enqueued.",
                                         label, schedule.missedTick == nil ? 0 : 1))
            readings.append(GaugeReading("cityos_schedule_file_not_applied",
                                         "1 while a running scheduler runs the schedule other than its file says (restart it).",
                                         label, schedule.notRunning == nil ? 0 : 1))
            let failing = schedule.lastRun.map { [.retrying, .dead, .dropped].contains($0.jobState) } ?? false
            readings.append(GaugeReading("cityos_schedule_last_job_failing",
                                         "1 while the job of the schedule's last tick is retrying or dead (or dropped by the dead letter cap).",
                                         label, failing ? 1 : 0))
            if let last = schedule.lastRun {
                readings.append(GaugeReading("cityos_schedule_last_run_timestamp_seconds",
                                             "When the schedule's last tick was enqueued for (the tick's time), seconds since the epoch.",
                                             label, Double(last.tickMillis) / 1000))
            }
        }
        return readings
    }
}
