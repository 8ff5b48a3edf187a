import CityOSTesting
import Foundation
import Jobs
import Logging
import Queue
import Scheduler
import XCTest

/// The schedules the platform ships: each loads and names a registered, real job kind.
final class ShippedSchedulesTests: XCTestCase {
    func testShippedSchedulesLoadAndNameRegisteredJobKinds() throws {
        let schedules = try ScheduleFiles.load(directory: TestEnvironment.shippedSchedulesDirectory)
        let registry = JobCatalog.registry()
        try schedules.validate(knownKinds: Set(registry.kinds))
        let byKind = Dictionary(uniqueKeysWithValues: schedules.map { ($0.jobKind, $0) })
        XCTAssertEqual(Set(byKind.keys), ["sync.reconcile", "payouts.run", "billing.cycle", "payments.retry", "money.reconcile",
                                          "webhooks.prune"])
        XCTAssertEqual(byKind["sync.reconcile"]?.cronText, "0 * * * *", "hourly")
        XCTAssertEqual(byKind["payments.retry"]?.cronText, "*/15 * * * *", "every 15 minutes")
        for kind in ["payouts.run", "billing.cycle", "money.reconcile", "webhooks.prune"] {
            let schedule = try XCTUnwrap(byKind[kind])
            let runs = schedule.cron.nextDates(after: Date(), in: schedule.timeZone, count: 2)
            XCTAssertEqual(runs.count, 2)
            XCTAssertEqual(runs[1].timeIntervalSince(runs[0]), 86_400, "\(kind) runs daily")
        }
    }
}
