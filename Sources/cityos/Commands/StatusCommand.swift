import ArgumentParser
import Foundation
import Queue
import Scheduler

/// `cityos status [--json]`: queues, counters and live worker processes; below the table, paused
/// queues, queues nobody takes and schedules whose last job is retrying or dead.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show queues (ready, in flight, delayed, dead) and worker processes.")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let platform = try Platform.load(global)
        let status = try await QueueStatus.read(redis: platform.redis, namespace: platform.namespace)
        if json {
            try printJSON(status)
            return
        }
        let widths = [14, 9, 10, 9, 9, 7, 8, 9, 11, 8, 10, 0]
        let header = ["QUEUE", "READY", "IN-FLIGHT", "LONGEST", "DELAYED", "DEAD", "DROPPED", "OLDEST", "PROCESSED",
                      "FAILED", "LAST MIN", "WORKERS"]
        print(row(header, widths))
        for q in status.queues {
            let age = q.oldestReadyAgeSeconds.map { String(format: "%.1fs", $0) } ?? "-"
            let longest = q.longestRunningSeconds.map { String(format: "%.1fs", $0) } ?? "-"
            let cells = [q.name, "\(q.ready)", "\(q.inFlight)", longest, "\(q.delayed)", "\(q.dead)", "\(q.deadDropped)",
                         age, "\(q.processed)", "\(q.failed)", "\(q.processedLastMinute)/min", "\(q.workers)"]
            print(row(cells, widths))
        }
        var alerts = status.queues.filter(\.paused).map { q in
            "! \(q.name): paused \(QueueCommand.since(q.pause)): no new job is taken from it (`cityos queue resume \(q.name)`)"
        }
        alerts += status.queues.filter(\.isStranded).map { q in
            "! \(q.name): \(q.ready) ready, \(q.delayed) delayed, \(q.inFlight) held by a worker process that is gone, "
                + "and no live worker process takes this queue "
                + "(start one with `cityos work --queues \(q.name):1`)"
        }
        alerts += await scheduleAlerts(platform)
        if !alerts.isEmpty { print("") }
        for alert in alerts { print(alert) }
        for check in status.checks ?? [] {
            let found = check.invariants.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let age = max(0, Double(Clock.nowMillis() - check.checkedAt) / 1000)
            print("\nCHECK \(check.name): " + (check.ok ? "ok" : "\(check.mismatches) mismatches (\(found.joined(separator: ", ")))")
                  + " (checked \(Self.ago(age)) ago)")
            for sample in check.samples.prefix(3) where !check.ok { print("  \(sample)") }
        }
        print("\nPROCESSES (\(status.processes.count) live)")
        for p in status.processes {
            print("  \(p.id)  queues=\(p.queues)  busy=\(p.busy)/\(p.concurrency)  beat \(String(format: "%.1f", p.lastBeatAgeSeconds))s ago")
        }
    }

    /// The schedules' alerts (`ScheduleStatus.alerts`: no scheduler running, a file not run as it
    /// is, a missed tick, a last job retrying or dead); none
    /// when the schedules cannot be read here (`cityos schedules list` says why).
    private func scheduleAlerts(_ platform: Platform) async -> [String] {
        guard let schedules = try? ScheduleFiles.load(directory: platform.config.schedulesDirectory),
              let status = try? await ScheduleStatus.read(schedules: schedules, registry: platform.registry,
                                                          redis: platform.redis, namespace: platform.namespace)
        else { return [] }
        return status.alerts.map { "! \($0)" }
    }

    /// `12s`, `5m`, `3h`, `2d`.
    static func ago(_ seconds: Double) -> String {
        switch seconds {
        case ..<120: return "\(Int(seconds))s"
        case ..<7_200: return "\(Int(seconds / 60))m"
        case ..<172_800: return "\(Int(seconds / 3_600))h"
        default: return "\(Int(seconds / 86_400))d"
        }
    }

    private func row(_ cells: [String], _ widths: [Int]) -> String {
        zip(cells, widths).map { $1 > 0 ? pad($0, $1) : $0 }.joined()   // 0: the last column, unpadded
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
