import Foundation

/// Times as schedules show them: ISO 8601 with the offset in force in the schedule's zone,
/// e.g. `2026-03-29T03:00:00+02:00` (`+00:00` in UTC), whole seconds.
public enum ZonedTime {
    /// `date` (truncated to the second) as wall-clock time in `zone`, with that zone's offset.
    public static func format(_ date: Date, in zone: TimeZone) -> String {
        let instant = Int64(date.timeIntervalSince1970.rounded(.down))
        let offset = zone.offsetSeconds(at: instant)
        let wall = WallTime(instant: instant, in: zone)
        let sign = offset < 0 ? "-" : "+"
        let minutes = abs(offset) / 60
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d", wall.year, wall.month, wall.day,
                      wall.hour, wall.minute, wall.second)
            + sign + String(format: "%02d:%02d", minutes / 60, minutes % 60)
    }

    /// Reads an ISO 8601 date-time: with an offset or `Z` (`2026-03-28T22:00:00Z`,
    /// `2026-03-29T01:00:00+01:00`, fractional seconds allowed), or without one
    /// (`2026-03-29T01:00[:00]`), which is read as wall-clock time in `zone` — a time skipped by
    /// a daylight-saving change means the first instant after the gap, a repeated one its first
    /// occurrence, as for cron ticks. Nil if the text is none of these.
    public static func parse(_ text: String, zone: TimeZone) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime],
                                                      [.withInternetDateTime, .withFractionalSeconds]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: trimmed) { return date }
        }
        guard let wall = localDateTime(trimmed) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(zone.resolveWallTime(wall).fireInstant))
    }

    /// `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS` (a space may replace the `T`), checked.
    private static func localDateTime(_ text: String) -> WallTime? {
        let parts = text.split(whereSeparator: { $0 == "T" || $0 == " " })
        guard parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        let time = parts[1].split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        guard date.count == 3, time.count == 2 || time.count == 3,
              let year = date[0], let month = date[1], let day = date[2],
              let hour = time[0], let minute = time[1], let second = time.count == 3 ? time[2] : 0,
              (1...9999).contains(year), (1...12).contains(month),
              (1...WallTime.daysInMonth(year: year, month: month)).contains(day),
              (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second)
        else { return nil }
        return WallTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }
}
