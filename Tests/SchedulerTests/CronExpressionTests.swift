import Foundation
import XCTest
@testable import Scheduler

/// Parses "2026-03-29T01:00:00Z".
func cronDate(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    guard let date = formatter.date(from: text) else {
        XCTFail("bad test date \(text)", file: file, line: line)
        return Date(timeIntervalSince1970: 0)
    }
    return date
}

/// Formats a date as "2026-03-29T01:00:00Z".
func cronISO(_ date: Date?) -> String {
    guard let date else { return "nil" }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
}

func cronZone(_ identifier: String) -> TimeZone {
    TimeZone(identifier: identifier) ?? TimeZone(secondsFromGMT: 0) ?? .current
}

final class CronExpressionTests: XCTestCase {
    /// One row: the expression, the zone, the instant to search after, and the next firing
    /// times (each strictly after the previous), worked out by hand with a calendar:
    /// 2026-01-01 is a Thursday, 2026-06-01 a Monday, 2026-06-05 a Friday.
    struct Row {
        let expression: String
        let zone: String
        let after: String
        let expected: [String]
        let note: String
    }

    let table: [Row] = [
        // Day 31 only exists in 7 months: April, June, September, November and February are skipped.
        Row(expression: "0 0 31 * *", zone: "UTC", after: "2026-04-01T00:00:00Z",
            expected: ["2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z",
                       "2026-10-31T00:00:00Z", "2026-12-31T00:00:00Z", "2027-01-31T00:00:00Z"],
            note: "skips months without a 31st"),
        // Vixie OR: the 1st-7th of every month, and every Monday. June 2026: Mondays 1, 8, 15, 22, 29.
        Row(expression: "0 0 1-7 * MON", zone: "UTC", after: "2026-06-01T00:00:00Z",
            expected: ["2026-06-02T00:00:00Z", "2026-06-03T00:00:00Z", "2026-06-04T00:00:00Z",
                       "2026-06-05T00:00:00Z", "2026-06-06T00:00:00Z", "2026-06-07T00:00:00Z",
                       "2026-06-08T00:00:00Z", "2026-06-15T00:00:00Z", "2026-06-22T00:00:00Z",
                       "2026-06-29T00:00:00Z", "2026-07-01T00:00:00Z", "2026-07-02T00:00:00Z"],
            note: "day-of-month OR day-of-week"),
        // Business hours, every quarter hour: Friday 17:45 is the last, then Monday 09:00.
        Row(expression: "*/15 9-17 * * 1-5", zone: "UTC", after: "2026-06-05T17:30:00Z",
            expected: ["2026-06-05T17:45:00Z", "2026-06-08T09:00:00Z", "2026-06-08T09:15:00Z"],
            note: "weekdays 9-17"),
        Row(expression: "*/15 9-17 * * 1-5", zone: "UTC", after: "2026-06-05T10:07:00Z",
            expected: ["2026-06-05T10:15:00Z", "2026-06-05T10:30:00Z"],
            note: "weekdays 9-17, mid-morning"),
        // February 29: 2028 and 2032 are leap years; 2100 is not, so after 2096 comes 2104.
        Row(expression: "0 12 29 2 *", zone: "UTC", after: "2026-01-01T00:00:00Z",
            expected: ["2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"],
            note: "leap day"),
        Row(expression: "0 12 29 2 *", zone: "UTC", after: "2096-03-01T00:00:00Z",
            expected: ["2104-02-29T12:00:00Z"],
            note: "leap day across 2100"),
        // Macros.
        Row(expression: "@hourly", zone: "UTC", after: "2026-06-05T10:00:00Z",
            expected: ["2026-06-05T11:00:00Z", "2026-06-05T12:00:00Z"], note: "@hourly"),
        Row(expression: "@weekly", zone: "UTC", after: "2026-06-03T08:00:00Z",
            expected: ["2026-06-07T00:00:00Z", "2026-06-14T00:00:00Z"], note: "@weekly: Sundays"),
        Row(expression: "@daily", zone: "UTC", after: "2026-06-05T00:00:00Z",
            expected: ["2026-06-06T00:00:00Z"], note: "@daily"),
        Row(expression: "@midnight", zone: "Europe/Berlin", after: "2026-06-05T12:00:00Z",
            expected: ["2026-06-05T22:00:00Z"], note: "@midnight in CEST (UTC+2)"),
        Row(expression: "@monthly", zone: "UTC", after: "2026-06-05T00:00:00Z",
            expected: ["2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z"], note: "@monthly"),
        Row(expression: "@yearly", zone: "UTC", after: "2026-06-05T00:00:00Z",
            expected: ["2027-01-01T00:00:00Z"], note: "@yearly"),
        Row(expression: "@annually", zone: "America/New_York", after: "2026-06-05T00:00:00Z",
            expected: ["2027-01-01T05:00:00Z"], note: "@annually in EST (UTC-5)"),
        // Six fields: seconds.
        Row(expression: "*/5 * * * * *", zone: "UTC", after: "2026-06-05T12:00:03Z",
            expected: ["2026-06-05T12:00:05Z", "2026-06-05T12:00:10Z", "2026-06-05T12:00:15Z"],
            note: "every 5 seconds"),
        Row(expression: "30 59 23 31 12 *", zone: "UTC", after: "2026-06-05T00:00:00Z",
            expected: ["2026-12-31T23:59:30Z"], note: "six fields, last half-minute of the year"),
        // Steps.
        Row(expression: "1-30/10 8 * * *", zone: "UTC", after: "2026-06-05T00:00:00Z",
            expected: ["2026-06-05T08:01:00Z", "2026-06-05T08:11:00Z", "2026-06-05T08:21:00Z",
                       "2026-06-06T08:01:00Z"], note: "range with step"),
        Row(expression: "5/20 8 * * *", zone: "UTC", after: "2026-06-05T00:00:00Z",
            expected: ["2026-06-05T08:05:00Z", "2026-06-05T08:25:00Z", "2026-06-05T08:45:00Z",
                       "2026-06-06T08:05:00Z"], note: "N/STEP runs to the end of the range"),
        // Names, any case; Sunday as 0, 7 or SUN. 2026-07-01 is a Wednesday.
        Row(expression: "0 9 * JAN,jul Mon-Fri", zone: "UTC", after: "2026-06-05T00:00:00Z",
            expected: ["2026-07-01T09:00:00Z", "2026-07-02T09:00:00Z", "2026-07-03T09:00:00Z",
                       "2026-07-06T09:00:00Z"], note: "month and weekday names"),
        Row(expression: "0 0 * * 7", zone: "UTC", after: "2026-06-05T00:00:00Z",
            expected: ["2026-06-07T00:00:00Z"], note: "7 is Sunday"),
        Row(expression: "0 0 * * sun", zone: "UTC", after: "2026-06-05T00:00:00Z",
            expected: ["2026-06-07T00:00:00Z"], note: "sun is Sunday"),
        Row(expression: "0 0 * FEB-MAR 5-7", zone: "UTC", after: "2026-03-26T00:00:00Z",
            expected: ["2026-03-27T00:00:00Z", "2026-03-28T00:00:00Z", "2026-03-29T00:00:00Z",
                       "2027-02-05T00:00:00Z"], note: "Fri-Sun in Feb-Mar; 2027-02-05 is a Friday"),
        // Vixie AND when one field starts with '*': odd days that are Mondays (June 1, 15, 29; July 13, 27).
        Row(expression: "0 0 */2 * MON", zone: "UTC", after: "2026-06-01T00:00:00Z",
            expected: ["2026-06-15T00:00:00Z", "2026-06-29T00:00:00Z", "2026-07-13T00:00:00Z"],
            note: "day-of-month */2 AND Monday"),
        // Vixie OR: Fridays and the 13th (February 2026: Fridays 6, 13, 20, 27).
        Row(expression: "0 0 13 * FRI", zone: "UTC", after: "2026-02-01T00:00:00Z",
            expected: ["2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z",
                       "2026-02-27T00:00:00Z", "2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z"],
            note: "13th OR Friday"),

        // Europe/Berlin spring forward, 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00Z.
        Row(expression: "30 2 * * *", zone: "Europe/Berlin", after: "2026-03-27T12:00:00Z",
            expected: ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"],
            note: "Berlin gap: 02:30 fires once at 03:00 CEST"),
        Row(expression: "*/15 2 * * *", zone: "Europe/Berlin", after: "2026-03-28T12:00:00Z",
            expected: ["2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z", "2026-03-30T00:15:00Z"],
            note: "Berlin gap: 02:00-02:45 coalesce into one firing at 03:00 CEST"),
        Row(expression: "30 * * * *", zone: "Europe/Berlin", after: "2026-03-28T23:45:00Z",
            expected: ["2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z",
                       "2026-03-29T02:30:00Z"],
            note: "Berlin gap, hourly: 01:30 CET, 03:00 CEST (for 02:30), 03:30 CEST, 04:30 CEST"),
        Row(expression: "* * * * *", zone: "Europe/Berlin", after: "2026-03-29T00:58:00Z",
            expected: ["2026-03-29T00:59:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:01:00Z"],
            note: "Berlin gap, every minute: 01:59 CET, 03:00 CEST, 03:01 CEST"),
        Row(expression: "0 3 * * *", zone: "Europe/Berlin", after: "2026-03-28T12:00:00Z",
            expected: ["2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"],
            note: "03:00 exists on the spring-forward day"),

        // Europe/Berlin fall back, 2026-10-25: 03:00 CEST goes back to 02:00 CET at 01:00Z;
        // 02:00-02:59 happen twice (00:00Z-00:59Z CEST, 01:00Z-01:59Z CET).
        Row(expression: "30 2 * * *", zone: "Europe/Berlin", after: "2026-10-24T12:00:00Z",
            expected: ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
            note: "Berlin repeat: 02:30 fires once, at 02:30 CEST"),
        Row(expression: "30 * * * *", zone: "Europe/Berlin", after: "2026-10-24T23:00:00Z",
            expected: ["2026-10-24T23:30:00Z", "2026-10-25T00:30:00Z", "2026-10-25T02:30:00Z",
                       "2026-10-25T03:30:00Z"],
            note: "Berlin repeat, hourly: 01:30 CEST, 02:30 CEST, (not 02:30 CET), 03:30 CET"),
        Row(expression: "* * * * *", zone: "Europe/Berlin", after: "2026-10-25T00:58:00Z",
            expected: ["2026-10-25T00:59:00Z", "2026-10-25T02:00:00Z", "2026-10-25T02:01:00Z"],
            note: "Berlin repeat, every minute: pauses through the repeated hour"),
        Row(expression: "0 0 * * * *", zone: "Europe/Berlin", after: "2026-10-24T23:30:00Z",
            expected: ["2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"],
            note: "Berlin repeat, six fields hourly: 02:00 CEST, 03:00 CET, 04:00 CET"),
        // Searching from inside the second pass of the repeated hour.
        Row(expression: "30 2 * * *", zone: "Europe/Berlin", after: "2026-10-25T01:00:00Z",
            expected: ["2026-10-26T01:30:00Z"],
            note: "from 02:00 CET (second pass): 02:30 already ran"),
        Row(expression: "*/10 * * * * *", zone: "Europe/Berlin", after: "2026-10-25T01:30:05Z",
            expected: ["2026-10-25T02:00:00Z", "2026-10-25T02:00:10Z"],
            note: "from inside the second pass, every 10 seconds: resumes at 03:00 CET"),

        // America/New_York spring forward, 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00Z.
        Row(expression: "30 2 * * *", zone: "America/New_York", after: "2026-03-07T00:00:00Z",
            expected: ["2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"],
            note: "New York gap: 02:30 fires once at 03:00 EDT"),
        Row(expression: "30 1 * * *", zone: "America/New_York", after: "2026-03-07T00:00:00Z",
            expected: ["2026-03-07T06:30:00Z", "2026-03-08T06:30:00Z", "2026-03-09T05:30:00Z"],
            note: "New York 01:30 before the gap is untouched"),
        // America/New_York fall back, 2026-11-01: 02:00 EDT goes back to 01:00 EST at 06:00Z;
        // 01:00-01:59 happen twice (05:00Z-05:59Z EDT, 06:00Z-06:59Z EST).
        Row(expression: "30 1 * * *", zone: "America/New_York", after: "2026-10-31T00:00:00Z",
            expected: ["2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
            note: "New York repeat: 01:30 fires once, at 01:30 EDT"),
        Row(expression: "30 2 * * *", zone: "America/New_York", after: "2026-10-31T12:00:00Z",
            expected: ["2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z"],
            note: "New York 02:30 after the repeat is untouched (EST)"),
    ]

    func testTableOfNextFireTimes() throws {
        for row in table {
            let expression = try CronExpression(row.expression)
            let dates = expression.nextDates(after: cronDate(row.after), in: cronZone(row.zone), count: row.expected.count)
            XCTAssertEqual(dates.map(cronISO), row.expected, "\(row.expression) in \(row.zone): \(row.note)")
            // next(after:) agrees with nextDates for the first entry.
            XCTAssertEqual(cronISO(expression.next(after: cronDate(row.after), in: cronZone(row.zone))), row.expected.first,
                           "\(row.expression): \(row.note)")
        }
    }

    func testNextIsStrictlyAfter() throws {
        let expression = try CronExpression("0 12 * * *")
        XCTAssertEqual(cronISO(expression.next(after: cronDate("2026-06-05T12:00:00Z"), in: cronZone("UTC"))), "2026-06-06T12:00:00Z")
        XCTAssertEqual(cronISO(expression.next(after: cronDate("2026-06-05T11:59:59Z"), in: cronZone("UTC"))), "2026-06-05T12:00:00Z")
        let justBefore = cronDate("2026-06-05T12:00:00Z").addingTimeInterval(-0.25)
        XCTAssertEqual(cronISO(expression.next(after: justBefore, in: cronZone("UTC"))), "2026-06-05T12:00:00Z")
        let justAfter = cronDate("2026-06-05T12:00:00Z").addingTimeInterval(0.25)
        XCTAssertEqual(cronISO(expression.next(after: justAfter, in: cronZone("UTC"))), "2026-06-06T12:00:00Z")
    }

    func testGapFiringIsFoundFromJustBeforeTheTransition() throws {
        // 00:59:59Z is 01:59:59 CET; the skipped 02:30 fires at the very next second, 01:00:00Z.
        let expression = try CronExpression("30 2 * * *")
        XCTAssertEqual(cronISO(expression.next(after: cronDate("2026-03-29T00:59:59Z"), in: cronZone("Europe/Berlin"))),
                       "2026-03-29T01:00:00Z")
        XCTAssertEqual(cronISO(expression.next(after: cronDate("2026-03-29T01:00:00Z"), in: cronZone("Europe/Berlin"))),
                       "2026-03-30T00:30:00Z")
    }

    func testImpossibleExpressionsReturnNilFast() throws {
        let start = Date()
        for text in ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30 FEB *"] {
            let expression = try CronExpression(text)
            XCTAssertNil(expression.next(after: cronDate("2026-01-01T00:00:00Z"), in: cronZone("Europe/Berlin")), text)
            XCTAssertEqual(expression.nextDates(after: cronDate("2026-01-01T00:00:00Z"), in: cronZone("UTC"), count: 3), [], text)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.0, "impossible expressions must fail fast")
    }

    func testSkipsByFieldsNotBySeconds() throws {
        // A year of searching for one second of the year must not step through 31 million seconds.
        let expression = try CronExpression("59 59 23 31 12 *")
        let start = Date()
        var dates: [Date] = []
        for year in 2026..<2046 {
            if let date = expression.next(after: cronDate("\(year)-01-01T00:00:00Z"), in: cronZone("America/New_York")) {
                dates.append(date)
            }
        }
        XCTAssertEqual(dates.count, 20)
        // 2026-01-01T00:00Z is still 2025-12-31 19:00 in New York (EST, UTC-5).
        XCTAssertEqual(cronISO(dates.first), "2026-01-01T04:59:59Z")
        XCTAssertEqual(cronISO(dates.last), "2045-01-01T04:59:59Z")
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.0)
    }

    func testEveryWallMinuteOfABerlinYearFiresOnceInOrder() throws {
        // Over a whole year (both transitions), every-hour firings are strictly increasing and
        // there is exactly one per wall-clock hour that exists: 8760 - 1 (skipped, but coalesced
        // into 03:00 which exists anyway) = 8759.
        let expression = try CronExpression("0 * * * *")
        let dates = expression.nextDates(after: cronDate("2025-12-31T23:00:00Z"), in: cronZone("Europe/Berlin"), count: 8759)
        XCTAssertEqual(dates.count, 8759)
        XCTAssertEqual(zip(dates, dates.dropFirst()).filter { $0 >= $1 }.count, 0)
        XCTAssertEqual(cronISO(dates.last), "2026-12-31T23:00:00Z")
    }

    func testFieldsAndProperties() throws {
        let five = try CronExpression("  */15 9-17 * * 1-5 ")
        XCTAssertFalse(five.hasSeconds)
        XCTAssertEqual(five.description, "*/15 9-17 * * 1-5")
        XCTAssertEqual(five.text, "*/15 9-17 * * 1-5")
        XCTAssertTrue(try CronExpression("*/5 * * * * *").hasSeconds)
        XCTAssertFalse(try CronExpression("@hourly").hasSeconds)
        XCTAssertEqual(try CronExpression("@DAILY").description, "@DAILY")
        XCTAssertEqual(try CronExpression("0 0 * * *"), try CronExpression("0 0 * * *"))
        XCTAssertNotEqual(try CronExpression("0 0 * * *"), try CronExpression("0 1 * * *"))

        let steps = try CronExpression("5/10 */6 1-30/6 * *")
        XCTAssertEqual((0...59).filter(steps.minute.contains), [5, 15, 25, 35, 45, 55])
        XCTAssertEqual((0...23).filter(steps.hour.contains), [0, 6, 12, 18])
        XCTAssertEqual((1...31).filter(steps.dayOfMonth.contains), [1, 7, 13, 19, 25])
        let rangeStep = try CronExpression("1-30/5 * * * *")
        XCTAssertEqual((0...59).filter(rangeStep.minute.contains), [1, 6, 11, 16, 21, 26])
        XCTAssertEqual((0...59).filter(rangeStep.second.contains), [0], "five fields fire at second 0")
        let sundays = try CronExpression("0 0 * * 0,7")
        XCTAssertEqual((0...6).filter(sundays.dayOfWeek.contains), [0])
        let names = try CronExpression("0 0 * jan-Mar,DEC SAT,sun")
        XCTAssertEqual((1...12).filter(names.month.contains), [1, 2, 3, 12])
        XCTAssertEqual((0...6).filter(names.dayOfWeek.contains), [0, 6])
        let everyOtherDay = try CronExpression("0 0 * * */2")
        XCTAssertEqual((0...6).filter(everyOtherDay.dayOfWeek.contains), [0, 2, 4, 6])
    }

    // MARK: - Errors

    func message(_ text: String) -> String {
        do {
            _ = try CronExpression(text)
            return "accepted"
        } catch {
            return error.description
        }
    }

    func testErrorMessagesPointAtTheField() {
        let cases: [(String, String)] = [
            ("0 25 * * *", #"cron expression "0 25 * * *": field 2 (hour) value 25 is out of range 0-23"#),
            ("60 * * * *", #"cron expression "60 * * * *": field 1 (minute) value 60 is out of range 0-59"#),
            ("0 0 0 * *", #"cron expression "0 0 0 * *": field 3 (day-of-month) value 0 is out of range 1-31"#),
            ("0 0 * 13 *", #"cron expression "0 0 * 13 *": field 4 (month) value 13 is out of range 1-12"#),
            ("0 0 * * 8", #"cron expression "0 0 * * 8": field 5 (day-of-week) value 8 is out of range 0-7"#),
            ("60 0 0 * * *", #"cron expression "60 0 0 * * *": field 1 (second) value 60 is out of range 0-59"#),
            ("0 0 25 * * *", #"cron expression "0 0 25 * * *": field 3 (hour) value 25 is out of range 0-23"#),
            ("0 0 * *", #"cron expression "0 0 * *": expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading second, found 4"#),
            ("0 0 * * * * *", #"cron expression "0 0 * * * * *": expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading second, found 7"#),
            ("", #"cron expression "": it is empty; expected five fields (minute hour day-of-month month day-of-week), six with a leading second, or a macro such as @daily"#),
            ("*/0 * * * *", #"cron expression "*/0 * * * *": field 1 (minute) step "0" is invalid; it must be a number from 1 to 59"#),
            ("0 */x * * *", #"cron expression "0 */x * * *": field 2 (hour) step "x" is invalid; it must be a number from 1 to 23"#),
            ("0 0 1/ * *", #"cron expression "0 0 1/ * *": field 3 (day-of-month) step "" is invalid; it must be a number from 1 to 31"#),
            ("0 0 * */13 *", #"cron expression "0 0 * */13 *": field 4 (month) step "13" is invalid; it must be a number from 1 to 12"#),
            ("1,,2 * * * *", #"cron expression "1,,2 * * * *": field 1 (minute) has an empty list item"#),
            ("0 0 * * MON,", #"cron expression "0 0 * * MON,": field 5 (day-of-week) has an empty list item"#),
            ("0 17-9 * * *", #"cron expression "0 17-9 * * *": field 2 (hour) range 17-9 is inverted (its start is after its end)"#),
            ("0 0 * * FRI-MON", #"cron expression "0 0 * * FRI-MON": field 5 (day-of-week) range FRI-MON is inverted (its start is after its end)"#),
            ("0 0 * JANUARY *", #"cron expression "0 0 * JANUARY *": field 4 (month) name "JANUARY" is unknown; use JAN-DEC or 1-12"#),
            ("0 0 * * Funday", #"cron expression "0 0 * * Funday": field 5 (day-of-week) name "Funday" is unknown; use SUN-SAT or 0-7"#),
            ("0 MON * * *", #"cron expression "0 MON * * *": field 2 (hour) value "MON" is not a number"#),
            ("0 0 L * *", #"cron expression "0 0 L * *": field 3 (day-of-month) value "L" is not a number"#),
            ("1- * * * *", #"cron expression "1- * * * *": field 1 (minute) item "1-" is malformed; expected N, N-M, *, with an optional /STEP"#),
            ("*-5 * * * *", #"cron expression "*-5 * * * *": field 1 (minute) item "*-5" is malformed; expected N, N-M, *, with an optional /STEP"#),
            ("1/2/3 * * * *", #"cron expression "1/2/3 * * * *": field 1 (minute) item "1/2/3" is malformed; expected N, N-M, *, with an optional /STEP"#),
            ("@often", #"cron expression "@often": unknown macro; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"#),
            ("@reboot", #"cron expression "@reboot": unknown macro; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"#),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(message(text), expected, text)
        }
    }

    func testErrorsAreTyped() {
        do {
            _ = try CronExpression("0 25 * * *")
            XCTFail("accepted")
        } catch {
            // `error` is statically a CronError (typed throws).
            XCTAssertEqual(error, .outOfRange(expression: "0 25 * * *", position: 2, field: .hour, value: "25"))
            XCTAssertEqual((error as any Error).localizedDescription, error.description)
        }
    }
}
