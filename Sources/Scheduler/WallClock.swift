import Foundation

/// A wall-clock time (what a clock on the wall in some zone shows), proleptic Gregorian,
/// with whole seconds. Fields may run one past their range (`second == 60`, `hour == 24`,
/// `day == 32`, `month == 13`) while a search carries into the next field.
struct WallTime: Sendable, Equatable, Comparable {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int
    var second: Int

    /// Seconds since 1970-01-01T00:00:00 *as if* this wall time were UTC.
    var localSeconds: Int64 {
        Int64(WallTime.daysFromCivil(year: year, month: month, day: day)) * 86_400
            + Int64(hour * 3_600 + minute * 60 + second)
    }

    init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// The wall time `localSeconds` seconds after 1970-01-01T00:00:00 (wall).
    init(localSeconds: Int64) {
        let days = localSeconds.floorDivided(by: 86_400)
        let secondOfDay = Int(localSeconds - days * 86_400)
        let (year, month, day) = WallTime.civilFromDays(Int(days))
        self.init(year: year, month: month, day: day, hour: secondOfDay / 3_600,
                  minute: secondOfDay / 60 % 60, second: secondOfDay % 60)
    }

    /// The wall time shown in `zone` at the whole second `instant` (Unix seconds).
    init(instant: Int64, in zone: TimeZone) {
        self.init(localSeconds: instant + Int64(zone.offsetSeconds(at: instant)))
    }

    static func < (lhs: WallTime, rhs: WallTime) -> Bool { lhs.localSeconds < rhs.localSeconds }

    /// 0 = Sunday … 6 = Saturday.
    static func weekday(year: Int, month: Int, day: Int) -> Int {
        // 1970-01-01 was a Thursday (4).
        let days = daysFromCivil(year: year, month: month, day: day)
        return ((days % 7) + 7 + 4) % 7
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func isLeapYear(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    // Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Where a wall-clock time falls on the time line of a zone.
enum WallResolution: Equatable {
    /// The wall time happens exactly once, at this instant (Unix seconds).
    case unique(Int64)
    /// The wall time does not happen (the clocks jumped over it); `transition` is the first
    /// instant after the jump.
    case skipped(transition: Int64)
    /// The wall time happens twice (the clocks were set back); `first` is its first
    /// occurrence, and `repeatEnd` the first wall time after the repeated stretch.
    case repeated(first: Int64, repeatEnd: WallTime)

    /// The instant at which a schedule fires for this wall time under the DST policy:
    /// the instant itself, the end of the gap, or the first occurrence.
    var fireInstant: Int64 {
        switch self {
        case let .unique(instant): return instant
        case let .skipped(transition): return transition
        case let .repeated(first, _): return first
        }
    }
}

extension TimeZone {
    /// The offset from UTC, in seconds, in force at the instant `instant` (Unix seconds).
    func offsetSeconds(at instant: Int64) -> Int {
        secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant)))
    }

    /// Where `wall` falls on this zone's time line.
    ///
    /// Looks at the offsets in force a day before and a day after the wall time (read as UTC);
    /// every zone's offset lies within ±1 day, so these bracket any transition near it.
    /// Assumes at most one transition within those two days, true of every real zone.
    func resolveWallTime(_ wall: WallTime) -> WallResolution {
        let local = wall.localSeconds
        let before = offsetSeconds(at: local - 86_400)
        let after = offsetSeconds(at: local + 86_400)
        let earlyCandidate = local - Int64(before)
        let lateCandidate = local - Int64(after)
        let earlyValid = offsetSeconds(at: earlyCandidate) == before
        let lateValid = offsetSeconds(at: lateCandidate) == after
        switch (earlyValid, lateValid) {
        case (true, true):
            if before == after || earlyCandidate == lateCandidate {
                return .unique(earlyCandidate)
            }
            // Clocks set back: `before > after`, the wall time is shown twice.
            let first = min(earlyCandidate, lateCandidate)
            let transition = firstInstant(from: first, to: max(earlyCandidate, lateCandidate), withOffset: after)
            return .repeated(first: first, repeatEnd: WallTime(localSeconds: transition + Int64(before)))
        case (true, false):
            return .unique(earlyCandidate)
        case (false, true):
            return .unique(lateCandidate)
        case (false, false):
            // Clocks jumped forward over the wall time: `after > before`. The transition lies in
            // (lateCandidate, earlyCandidate]: before it the offset is `before`, from it on `after`.
            let low = min(earlyCandidate, lateCandidate)
            let high = max(earlyCandidate, lateCandidate)
            return .skipped(transition: firstInstant(from: low, to: high, withOffset: after))
        }
    }

    /// The first instant in (low, high] whose offset is `target`, given that the offset at
    /// `low` is not `target` and at `high` it is (binary search over whole seconds).
    private func firstInstant(from low: Int64, to high: Int64, withOffset target: Int) -> Int64 {
        var low = low
        var high = high
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if offsetSeconds(at: middle) == target { high = middle } else { low = middle }
        }
        return high
    }
}

extension Int64 {
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
