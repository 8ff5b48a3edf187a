import Foundation
import XCTest
@testable import Scheduler

final class CatchUpTests: XCTestCase {
    func quarterHourly() throws -> CronExpression { try CronExpression("*/15 * * * *") }

    func ticks(_ expression: CronExpression, _ zoneID: String = "UTC", after: String, through: Date,
               _ policy: CatchUpPolicy, limit: Int = 1000) -> [String] {
        dueTicks(of: expression, in: cronZone(zoneID), after: cronDate(after), through: through,
                 policy: policy, limit: limit).map(cronISO)
    }

    func testMissedTicksUnderEachPolicy() throws {
        // Last tick 10:00; the scheduler was away until 11:07. Missed: 10:15, 10:30, 10:45, 11:00.
        let now = cronDate("2026-06-05T11:07:00Z")
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T10:00:00Z", through: now, .latest),
                       ["2026-06-05T11:00:00Z"])
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T10:00:00Z", through: now, .all),
                       ["2026-06-05T10:15:00Z", "2026-06-05T10:30:00Z", "2026-06-05T10:45:00Z", "2026-06-05T11:00:00Z"])
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T10:00:00Z", through: now, .all, limit: 2),
                       ["2026-06-05T10:45:00Z", "2026-06-05T11:00:00Z"], "all keeps the newest `limit`")
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T10:00:00Z", through: now, .none), [],
                       "none drops ticks that are 7 minutes late")
    }

    /// The sleep after a poll runs to the first tick after the time the poll used: one that fell due
    /// while the poll ran (or that an estimate a little ahead of Redis's clock puts in the past) is
    /// polled for at once, not a whole sleep later, when `none` would have dropped it.
    func testTheSleepAfterAPollEndsAtTheTickThePollDidNotReach() throws {
        let tick = cronDate("2026-06-05T11:15:00Z")
        let margin = Duration.milliseconds(SchedulerRunner.wakeMargin)
        // The poll used 11:14:59.998; the tick came due before it ended.
        XCTAssertEqual(SchedulerRunner.sleepTime(nextTick: tick, estimate: tick.addingTimeInterval(0.004), maxSleep: .seconds(1)),
                       margin, "a tick already due: polled again at once")
        XCTAssertEqual(SchedulerRunner.sleepTime(nextTick: tick, estimate: tick.addingTimeInterval(-0.3), maxSleep: .seconds(1)),
                       .milliseconds(300) + margin, "until the tick, and a little after")
        XCTAssertEqual(SchedulerRunner.sleepTime(nextTick: tick, estimate: tick.addingTimeInterval(-60), maxSleep: .seconds(1)),
                       .seconds(1), "at most the longest sleep")
        XCTAssertEqual(SchedulerRunner.sleepTime(nextTick: nil, estimate: tick, maxSleep: .seconds(1)), .seconds(1))
    }

    func testNoneRunsTheTickHappeningNow() throws {
        let onTime = cronDate("2026-06-05T11:15:00Z")
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T10:00:00Z", through: onTime, .none),
                       ["2026-06-05T11:15:00Z"], "missed ticks are dropped, the one now runs")
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T10:00:00Z", through: onTime.addingTimeInterval(0.9), .none),
                       ["2026-06-05T11:15:00Z"], "within the 1 s grace")
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T10:00:00Z", through: onTime.addingTimeInterval(1), .none),
                       ["2026-06-05T11:15:00Z"], "exactly 1 s late still counts")
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T10:00:00Z", through: onTime.addingTimeInterval(1.5), .none),
                       [], "1.5 s late is missed")
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T11:15:00Z", through: onTime.addingTimeInterval(0.5), .none),
                       [], "already handled")
    }

    func testTickExactlyAtNowIsDueAndLastTickIsExcluded() throws {
        let now = cronDate("2026-06-05T11:00:00Z")
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T10:45:00Z", through: now, .all), ["2026-06-05T11:00:00Z"])
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T11:00:00Z", through: now, .all), [])
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T11:00:00Z", through: now, .latest), [])
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T10:50:00Z", through: cronDate("2026-06-05T10:59:59Z"), .latest), [],
                       "nothing due yet")
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T12:00:00Z", through: now, .all), [], "last tick in the future")
        XCTAssertEqual(ticks(try quarterHourly(), after: "2026-06-05T10:00:00Z", through: now, .all, limit: 0), [])
    }

    func testLatestAndAllAfterALongOutageAreCheap() throws {
        let everySecond = try CronExpression("* * * * * *")
        let now = cronDate("2026-06-05T12:00:00Z")
        let start = Date()
        XCTAssertEqual(ticks(everySecond, after: "2025-06-05T12:00:00Z", through: now, .latest), ["2026-06-05T12:00:00Z"])
        let all = ticks(everySecond, after: "2025-06-05T12:00:00Z", through: now, .all)
        XCTAssertEqual(all.count, 1000)
        XCTAssertEqual(all.first, "2026-06-05T11:43:21Z", "the newest 1000 seconds: 11:43:21 … 12:00:00")
        XCTAssertEqual(all.last, "2026-06-05T12:00:00Z")
        XCTAssertEqual(ticks(everySecond, after: "2025-06-05T12:00:00Z", through: now, .none),
                       ["2026-06-05T11:59:59Z", "2026-06-05T12:00:00Z"], "none: the ticks within the last second")
        let yearly = try CronExpression("@yearly")
        XCTAssertEqual(ticks(yearly, after: "2020-06-05T00:00:00Z", through: now, .latest), ["2026-01-01T00:00:00Z"])
        XCTAssertEqual(ticks(yearly, after: "2020-06-05T00:00:00Z", through: now, .all),
                       ["2021-01-01T00:00:00Z", "2022-01-01T00:00:00Z", "2023-01-01T00:00:00Z",
                        "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.0)
    }

    func testDailyCatchUpInAZoneAcrossSpringForward() throws {
        // 30 2 * * * in Berlin, down from the 27th to the 30th of March 2026: the 28th (01:30Z),
        // the 29th (skipped 02:30 → 03:00 CEST, 01:00Z) and the 30th (00:30Z).
        let daily = try CronExpression("30 2 * * *")
        let now = cronDate("2026-03-30T06:00:00Z")
        XCTAssertEqual(ticks(daily, "Europe/Berlin", after: "2026-03-27T06:00:00Z", through: now, .all),
                       ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"])
        XCTAssertEqual(ticks(daily, "Europe/Berlin", after: "2026-03-27T06:00:00Z", through: now, .latest),
                       ["2026-03-30T00:30:00Z"])
    }

    func testPolicyRawValuesAndScheduleHelper() throws {
        XCTAssertEqual(CatchUpPolicy(rawValue: "latest"), .latest)
        XCTAssertEqual(CatchUpPolicy(rawValue: "all"), .all)
        XCTAssertEqual(CatchUpPolicy(rawValue: "none"), CatchUpPolicy.none)
        let data = try JSONEncoder().encode([CatchUpPolicy.all])
        XCTAssertEqual(String(decoding: data, as: UTF8.self), #"["all"]"#)

        let schedule = ScheduleDefinition(name: "q", cron: try quarterHourly(), jobKind: "demo.job", catchUp: .all)
        XCTAssertEqual(schedule.dueTicks(after: cronDate("2026-06-05T10:00:00Z"), through: cronDate("2026-06-05T10:31:00Z")).map(cronISO),
                       ["2026-06-05T10:15:00Z", "2026-06-05T10:30:00Z"])
        XCTAssertEqual(cronISO(schedule.nextRun(after: cronDate("2026-06-05T10:31:00Z"))), "2026-06-05T10:45:00Z")
    }
}
