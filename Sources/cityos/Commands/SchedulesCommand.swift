import ArgumentParser
import Foundation
import Scheduler

/// `cityos schedules list|next`: what is scheduled, and when an expression fires.
struct SchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedules", abstract: "Inspect schedules and cron expressions.",
        subcommands: [List.self, Next.self])

    /// `cityos schedules list [--json]`: each schedule's expression, zone, next three runs, last run
    /// and what became of its job.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the schedules with their next three runs, their last run, its job id and what became of it.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON (the body of GET /v1/schedules).") var json = false

        func run() async throws {
            let platform = try Platform.load(global)
            let schedules = try platform.loadSchedules()
            let status = try await ScheduleStatus.read(schedules: schedules, registry: platform.registry,
                                                       redis: platform.redis, namespace: platform.namespace)
            platform.redis.shutdown()
            if json {
                try printJSON(status)
                return
            }
            let rows = [["NAME", "CRON", "ZONE", "JOB", "NEXT RUNS", "LAST RUN", "JOB ID", "LAST JOB"]] + status.schedules.map { s in
                [s.name + (s.enabled ? "" : " (disabled)"), s.cron, s.timezone, s.job,
                 s.nextRuns.isEmpty ? "-" : s.nextRuns.joined(separator: ", "),
                 s.lastRun?.tick ?? "-", s.lastRun?.jobID ?? "-", s.lastRun?.summary ?? "-"]
            }
            for line in Table.lines(rows) { print(line) }
            print("running schedulers: \(status.runningSchedulers.isEmpty ? "none" : status.runningSchedulers.joined(separator: ", "))")
            for alert in status.alerts { print("! \(alert)") }
        }
    }

    /// `cityos schedules next "EXPR" [--tz ZONE] [--after ISO8601] [--count N]`.
    struct Next: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the next fire times of a cron expression, ISO 8601 with offset, one per line.")
        @Argument(help: "Cron expression: five fields, six with a leading second, or a macro such as @daily.")
        var expression: String
        @Option(help: "IANA time zone the expression is read in.") var tz: String = "UTC"
        @Option(help: "Start after this time (ISO 8601; without an offset it is read in --tz). Default: now.")
        var after: String?
        @Option(help: "How many fire times (1-1000).") var count: Int = 5

        func run() async throws {
            let cron: CronExpression
            do { cron = try CronExpression(expression) } catch { throw userError(error.description) }
            guard let zone = TimeZone(identifier: tz) else {
                throw userError("unknown time zone '\(tz)' (use an IANA name such as Europe/Berlin or UTC)")
            }
            guard (1...1000).contains(count) else { throw userError("--count must be from 1 to 1000, not \(count)") }
            var start = Date()
            if let after {
                guard let date = ZonedTime.parse(after, zone: zone) else {
                    throw userError("--after '\(after)' is not an ISO 8601 date-time (e.g. 2026-03-29T01:30:00+01:00)")
                }
                start = date
            }
            let dates = cron.nextDates(after: start, in: zone, count: count)
            for date in dates { print(ZonedTime.format(date, in: zone)) }
            if dates.count < count {
                FileHandle.standardError.write(Data(
                    "cityos: \"\(cron.text)\" fires \(dates.count) time(s) in the 8 years after the start\n".utf8))
            }
        }
    }
}

/// Left-aligned columns separated by two spaces.
enum Table {
    static func lines(_ rows: [[String]]) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                c == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[c] - cell.count + 2)
            }.joined()
        }
    }
}
