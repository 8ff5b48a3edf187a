import Foundation
import Jobs
import Logging
import Queue
import Scheduler
import XCTest

/// The schedules the platform ships, and the placeholder jobs they run until the real ones land.
final class ShippedSchedulesTests: XCTestCase {
    static let schedulesDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Schedules").path

    func testShippedSchedulesLoadAndNameRegisteredJobKinds() throws {
        let schedules = try ScheduleFiles.load(directory: Self.schedulesDirectory)
        let registry = JobCatalog.registry()
        try schedules.validate(knownKinds: Set(registry.kinds))
        let byKind = Dictionary(uniqueKeysWithValues: schedules.map { ($0.jobKind, $0) })
        XCTAssertEqual(Set(byKind.keys), ["sync.reconcile", "payouts.run", "billing.cycle", "payments.retry", "money.reconcile"])
        XCTAssertEqual(byKind["sync.reconcile"]?.cronText, "0 * * * *", "hourly")
        XCTAssertEqual(byKind["payments.retry"]?.cronText, "*/15 * * * *", "every 15 minutes")
        for kind in ["payouts.run", "billing.cycle", "money.reconcile"] {
            let schedule = try XCTUnwrap(byKind[kind])
            let runs = schedule.cron.nextDates(after: Date(), in: schedule.timeZone, count: 2)
            XCTAssertEqual(runs.count, 2)
            XCTAssertEqual(runs[1].timeIntervalSince(runs[0]), 86_400, "\(kind) runs daily")
        }
    }

    func testPlaceholderJobsFailPermanentlyAndSayWhy() async throws {
        let registry = JobCatalog.registry()
        // payouts.run, billing.cycle, payments.retry and money.reconcile have their real handlers
        // (Jobs/Payouts, Jobs/Billing); the others are still placeholders.
        for kind in ["sync.reconcile"] {
            let handler = try XCTUnwrap(registry.handler(for: kind), "\(kind) is registered")
            let envelope = JobEnvelope(kind: kind, queue: handler.options.queue, args: .object(["batch_size": .number(10)]),
                                       maxAttempts: handler.options.retry.maxAttempts)
            do {
                try await handler.run(arguments: envelope.args,
                                      context: JobContext(envelope: envelope, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }))
                XCTFail("\(kind): a placeholder must never succeed")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.isPermanent, "\(kind): \(failure)")
                XCTAssertTrue(failure.description.contains("not implemented yet"), "\(kind): \(failure)")
            }
            XCTAssertEqual(handler.options.retry.maxAttempts, 1, "\(kind): no retries of a placeholder")
        }
    }
}
