import ArgumentParser
import Foundation
import Queue

/// `cityos status [--json]`: queues, counters and live worker processes.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show queues (ready, in flight, delayed, dead) and worker processes.")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let platform = try Platform.load(global)
        let status = try await QueueStatus.read(redis: platform.redis, namespace: platform.namespace)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
            return
        }
        print(pad("QUEUE", 14) + pad("READY", 9) + pad("IN-FLIGHT", 10) + pad("DELAYED", 9) + pad("DEAD", 7)
              + pad("DROPPED", 8) + pad("OLDEST", 9) + pad("PROCESSED", 11) + pad("FAILED", 8) + "LAST MIN")
        for q in status.queues {
            let age = q.oldestReadyAgeSeconds.map { String(format: "%.1fs", $0) } ?? "-"
            print(pad(q.name, 14) + pad("\(q.ready)", 9) + pad("\(q.inFlight)", 10) + pad("\(q.delayed)", 9)
                  + pad("\(q.dead)", 7) + pad("\(q.deadDropped)", 8) + pad(age, 9) + pad("\(q.processed)", 11)
                  + pad("\(q.failed)", 8) + "\(q.processedLastMinute)/min")
        }
        for check in status.checks ?? [] {
            let found = check.invariants.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            print("\nCHECK \(check.name): " + (check.ok ? "ok" : "\(check.mismatches) mismatches (\(found.joined(separator: ", ")))"))
        }
        print("\nPROCESSES (\(status.processes.count) live)")
        for p in status.processes {
            print("  \(p.id)  queues=\(p.queues)  busy=\(p.busy)/\(p.concurrency)  beat \(String(format: "%.1f", p.lastBeatAgeSeconds))s ago")
        }
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
