import Foundation
import XCTest
@testable import Scheduler

/// Checks `next(after:in:)` against a brute-force reference that walks the time line minute by
/// minute with Foundation's Calendar (independent of the engine's own date arithmetic and
/// time-zone resolution) and applies the DST policy literally:
/// - an instant fires if its wall-clock minute matches and no earlier instant showed that minute;
/// - the first instant after a forward jump also fires if any skipped wall-clock minute matches.
final class CronBruteForceTests: XCTestCase {
    struct Minute {
        let instant: Date
        let wall: DateComponents
        /// The wall-clock minutes skipped just before this instant (clocks jumped forward).
        let skipped: [DateComponents]
        /// This wall-clock minute was already shown earlier (clocks were set back).
        let repeated: Bool
    }

    func minutes(in zoneID: String, from start: String, hours: Int) -> [Minute] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = cronZone(zoneID)
        var wallCalendar = Calendar(identifier: .gregorian)
        wallCalendar.timeZone = cronZone("UTC")
        let fields: Set<Calendar.Component> = [.year, .month, .day, .hour, .minute, .weekday]
        func wall(_ date: Date) -> DateComponents { calendar.dateComponents(fields, from: date) }
        func key(_ c: DateComponents) -> [Int] { [c.year!, c.month!, c.day!, c.hour!, c.minute!] }
        /// The wall time as if it were UTC, to step through skipped wall minutes.
        func asUTC(_ c: DateComponents) -> Date {
            wallCalendar.date(from: DateComponents(year: c.year, month: c.month, day: c.day,
                                                   hour: c.hour, minute: c.minute))!
        }
        var result: [Minute] = []
        let first = cronDate(start)
        for index in 0..<(hours * 60) {
            let instant = first.addingTimeInterval(TimeInterval(index * 60))
            let now = wall(instant)
            let previous = wall(instant.addingTimeInterval(-60))
            var skipped: [DateComponents] = []
            var cursor = asUTC(previous).addingTimeInterval(60)
            while cursor < asUTC(now) {
                skipped.append(wallCalendar.dateComponents(fields, from: cursor))
                cursor = cursor.addingTimeInterval(60)
            }
            let repeated = [1800.0, 3600, 7200].contains { key(wall(instant.addingTimeInterval(-$0))) == key(now) }
            result.append(Minute(instant: instant, wall: now, skipped: skipped, repeated: repeated))
        }
        return result
    }

    /// Reference matching, with Vixie day logic written out again. `weekday` in
    /// DateComponents is 1 = Sunday.
    func matches(_ expression: CronExpression, _ c: DateComponents) -> Bool {
        guard expression.month.contains(c.month!), expression.hour.contains(c.hour!),
              expression.minute.contains(c.minute!) else { return false }
        let dom = expression.dayOfMonth.contains(c.day!)
        let dow = expression.dayOfWeek.contains(c.weekday! - 1)
        let fieldsText = expression.text.split(separator: " ")
        let domStar = fieldsText[2].hasPrefix("*")
        let dowStar = fieldsText[4].hasPrefix("*")
        return (domStar || dowStar) ? (dom && dow) : (dom || dow)
    }

    func testAgreesWithBruteForceAroundTransitions() throws {
        let windows: [(String, String)] = [
            ("Europe/Berlin", "2026-03-28T00:00:00Z"), ("Europe/Berlin", "2026-10-24T00:00:00Z"),
            ("America/New_York", "2026-03-07T00:00:00Z"), ("America/New_York", "2026-10-31T00:00:00Z"),
            ("Australia/Lord_Howe", "2026-04-04T00:00:00Z"), // a 30-minute DST shift
            ("Asia/Kolkata", "2026-03-28T00:00:00Z"), ("UTC", "2028-02-27T00:00:00Z"),
        ]
        let minuteChoices = ["*", "*/15", "0", "30", "0,30", "5-10", "*/7", "45", "10-50/20"]
        let hourChoices = ["*", "2", "1-3", "*/2", "3", "0", "1", "2,14", "*/5"]
        let dayChoices = ["*", "25", "1-7", "*/2", "29", "8", "1,31", "24-26"]
        let monthChoices = ["*", "3", "10,11", "MAR-NOV", "2-4"]
        let weekdayChoices = ["*", "0", "SUN", "1-5", "6", "*/3", "SAT,sun"]
        var seed: UInt64 = 0x5EED
        func pick(_ choices: [String]) -> String {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return choices[Int(seed >> 33) % choices.count]
        }
        var expressions: [CronExpression] = []
        for _ in 0..<60 {
            let text = [pick(minuteChoices), pick(hourChoices), pick(dayChoices), pick(monthChoices),
                        pick(weekdayChoices)].joined(separator: " ")
            expressions.append(try CronExpression(text))
        }
        var firings = 0
        var skippedMinutes = 0
        var repeatedMinutes = 0
        for (zoneID, start) in windows {
            let timeline = minutes(in: zoneID, from: start, hours: 48)
            skippedMinutes += timeline.reduce(0) { $0 + $1.skipped.count }
            repeatedMinutes += timeline.filter(\.repeated).count
            guard let first = timeline.first?.instant, let last = timeline.last?.instant else { continue }
            for expression in expressions {
                let expected = timeline.filter { minute in
                    (!minute.repeated && matches(expression, minute.wall))
                        || minute.skipped.contains { matches(expression, $0) }
                }.map { cronISO($0.instant) }
                var actual: [String] = []
                var cursor = first.addingTimeInterval(-1)
                while let next = expression.next(after: cursor, in: cronZone(zoneID)), next <= last {
                    actual.append(cronISO(next))
                    cursor = next
                }
                XCTAssertEqual(actual, expected, "\(expression) in \(zoneID) from \(start)")
                firings += expected.count
            }
        }
        // The windows really cross transitions: two one-hour gaps (spring forward in Berlin and
        // New York) and three repeats (their fall back, and Lord Howe's half-hour one in April).
        XCTAssertEqual(skippedMinutes, 60 + 60, "Berlin and New York spring gaps")
        XCTAssertEqual(repeatedMinutes, 60 + 60 + 30, "Berlin, New York and Lord Howe repeats")
        XCTAssertGreaterThan(firings, 1000)
    }
}
