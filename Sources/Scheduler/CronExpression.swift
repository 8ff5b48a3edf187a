import Foundation

/// A parsed cron expression, evaluated in an IANA time zone.
///
/// **Syntax.** Five fields — minute, hour, day-of-month, month, day-of-week — or six with a
/// leading second. Each field is a comma-separated list of `*`, `N`, `N-M`, each with an optional
/// `/STEP` (`*/15`, `1-30/5`, and `5/10` meaning 5, 15, 25, … to the end of the range).
/// Months take `JAN`-`DEC`, days of week `SUN`-`SAT` (any case); day-of-week 0 and 7 are both
/// Sunday. Macros: `@yearly`/`@annually` (`0 0 1 1 *`), `@monthly` (`0 0 1 * *`), `@weekly`
/// (`0 0 * * 0`), `@daily`/`@midnight` (`0 0 * * *`), `@hourly` (`0 * * * *`).
///
/// **Day-of-month and day-of-week** combine as in Vixie cron: when both are restricted (neither
/// field's text starts with `*`) a day matches if *either* matches — `0 0 1-7 * MON` fires on the
/// 1st to the 7th *and* on every Monday; otherwise both must match (the `*` one always does).
///
/// **Daylight saving time.** The expression is matched against wall-clock time in the zone, and
/// every matching wall-clock time fires exactly once:
/// - a wall-clock time that does not exist (spring forward) fires at the first instant after the
///   gap: `30 2 * * *` in Europe/Berlin on 2026-03-29 fires at 03:00 CEST (01:00Z). Several
///   skipped times coalesce into that single firing (`*/15 2 * * *` fires once at 03:00), and an
///   hourly `30 * * * *` fires at 01:30 CET, 03:00 CEST (for the skipped 02:30) and 03:30 CEST.
/// - a wall-clock time that occurs twice (fall back) fires only at its first occurrence: on
///   2026-10-25 in Berlin `30 2 * * *` fires at 02:30 CEST (00:30Z), not again at 02:30 CET.
///   This applies to every schedule, so `30 * * * *` fires at 00:30Z and then 02:30Z (03:30 CET),
///   and `* * * * *` pauses during the repeated hour (01:00Z-01:59Z): each repeated wall-clock
///   minute has already fired once.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    /// The expression as written (trimmed).
    public let text: String
    let second: CronField
    let minute: CronField
    let hour: CronField
    let dayOfMonth: CronField
    let month: CronField
    let dayOfWeek: CronField
    private let sixFields: Bool

    /// How far ahead ``next(after:in:)`` looks before giving up: 8 years, so that a 29 February
    /// is found even across 2100, which is not a leap year.
    static let horizonYears = 8

    /// Parses `text`.
    /// - Throws: ``CronError`` naming the field at fault.
    public init(_ text: String) throws(CronError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .empty }
        self.text = trimmed
        var fieldsText = trimmed
        if trimmed.hasPrefix("@") {
            guard let expansion = Self.macros[trimmed.lowercased()] else {
                throw .unknownMacro(expression: trimmed)
            }
            fieldsText = expansion
        }
        let parts = fieldsText.split(whereSeparator: { $0 == " " || $0 == "\t" || $0.isNewline })
        guard parts.count == 5 || parts.count == 6 else {
            throw .wrongFieldCount(expression: trimmed, count: parts.count)
        }
        sixFields = parts.count == 6
        let kinds: [CronFieldKind] = sixFields
            ? [.second, .minute, .hour, .dayOfMonth, .month, .dayOfWeek]
            : [.minute, .hour, .dayOfMonth, .month, .dayOfWeek]
        var fields: [CronFieldKind: CronField] = [.second: CronField(kind: .second, only: 0)]
        for (index, kind) in kinds.enumerated() {
            fields[kind] = try CronField.parse(parts[index], kind: kind, position: index + 1, expression: trimmed)
        }
        second = fields[.second] ?? CronField(kind: .second, only: 0)
        minute = fields[.minute] ?? CronField(kind: .minute, only: 0)
        hour = fields[.hour] ?? CronField(kind: .hour, only: 0)
        dayOfMonth = fields[.dayOfMonth] ?? CronField(kind: .dayOfMonth, only: 1)
        month = fields[.month] ?? CronField(kind: .month, only: 1)
        dayOfWeek = fields[.dayOfWeek] ?? CronField(kind: .dayOfWeek, only: 0)
    }

    private static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    ]

    /// Whether the expression has a leading seconds field (six fields). Five-field expressions
    /// and macros fire at second 0.
    public var hasSeconds: Bool { sixFields }

    /// The expression as written.
    public var description: String { text }

    /// The first firing time strictly after `date`, with wall-clock times read in `zone` and
    /// daylight-saving gaps and repeats handled as described on the type. Nil when nothing
    /// matches within 8 years (`0 0 30 2 *` never does).
    public func next(after date: Date, in zone: TimeZone) -> Date? {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, abs(seconds) < 1e15 else { return nil }
        // Firing times are whole seconds; strictly after `date` means at or after `threshold`.
        let threshold = Int64(seconds.rounded(.down)) + 1
        // Every wall time up to the one shown at `threshold - 1` fires at or before it, so the
        // search starts one wall second later (which may lie in a gap whose end is `threshold`).
        var start = WallTime(instant: threshold - 1, in: zone)
        start.second += 1
        let lastYear = start.year + Self.horizonYears
        while let wall = firstMatch(atOrAfter: start, lastYear: lastYear) {
            let resolution = zone.resolveWallTime(wall)
            let instant = resolution.fireInstant
            if instant >= threshold {
                return Date(timeIntervalSince1970: TimeInterval(instant))
            }
            // Only a repeated wall time whose first occurrence is already past gets here
            // (`date` lies in the second pass of a repeated hour): skip the repeated stretch.
            if case let .repeated(_, repeatEnd) = resolution, repeatEnd > wall {
                start = repeatEnd
            } else {
                start = wall
                start.second += 1
            }
        }
        return nil
    }

    /// The next `count` firing times after `date`, in order (fewer if the schedule runs out).
    public func nextDates(after date: Date, in zone: TimeZone, count: Int) -> [Date] {
        var dates: [Date] = []
        var cursor = date
        while dates.count < count, let next = next(after: cursor, in: zone) {
            dates.append(next)
            cursor = next
        }
        return dates
    }

    /// Whether the day matches day-of-month and day-of-week, combined the Vixie way.
    func dayMatches(year: Int, month: Int, day: Int) -> Bool {
        let domMatches = dayOfMonth.contains(day)
        let dowMatches = dayOfWeek.contains(WallTime.weekday(year: year, month: month, day: day))
        if dayOfMonth.startsWithStar || dayOfWeek.startsWithStar {
            return domMatches && dowMatches
        }
        return domMatches || dowMatches
    }

    /// The first wall time at or after `start` that matches every field, skipping whole months,
    /// days, hours and minutes that cannot match. `start` may have fields one past their range.
    func firstMatch(atOrAfter start: WallTime, lastYear: Int) -> WallTime? {
        var w = start
        while w.year <= lastYear {
            guard let m = month.next(atOrAfter: w.month) else {
                w = WallTime(year: w.year + 1, month: 1, day: 1, hour: 0, minute: 0, second: 0)
                continue
            }
            if m != w.month { w = WallTime(year: w.year, month: m, day: 1, hour: 0, minute: 0, second: 0) }

            let length = WallTime.daysInMonth(year: w.year, month: w.month)
            var day = w.day
            while day <= length, !dayMatches(year: w.year, month: w.month, day: day) { day += 1 }
            guard day <= length else {
                w = WallTime(year: w.year, month: w.month + 1, day: 1, hour: 0, minute: 0, second: 0)
                continue
            }
            if day != w.day { w.day = day; w.hour = 0; w.minute = 0; w.second = 0 }

            guard let h = hour.next(atOrAfter: w.hour) else {
                w.day += 1; w.hour = 0; w.minute = 0; w.second = 0
                continue
            }
            if h != w.hour { w.hour = h; w.minute = 0; w.second = 0 }

            guard let mi = minute.next(atOrAfter: w.minute) else {
                w.hour += 1; w.minute = 0; w.second = 0
                continue
            }
            if mi != w.minute { w.minute = mi; w.second = 0 }

            guard let s = second.next(atOrAfter: w.second) else {
                w.minute += 1; w.second = 0
                continue
            }
            w.second = s
            return w
        }
        return nil
    }
}
