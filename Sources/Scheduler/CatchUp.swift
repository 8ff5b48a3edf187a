import Foundation

/// What the scheduler does with ticks it missed (it was down, or a poll came late).
///
/// The scheduler remembers the last tick it handled for each schedule and, on every poll,
/// asks ``dueTicks(of:in:after:through:policy:limit:)`` which ticks to run now.
public enum CatchUpPolicy: String, Sendable, Codable, CaseIterable {
    /// Run once for the newest missed tick (the default): a nightly report missed for a
    /// week runs once, for last night.
    case latest
    /// Run every missed tick, oldest first (at most `limit`, the newest ones).
    case all
    /// Skip missed ticks: run only a tick that is happening now, i.e. whose time is at most
    /// ``dueTicksGrace`` (1 second) before the poll.
    case none
}

/// How late a tick may be seen and still count as "now" under ``CatchUpPolicy/none``.
public let dueTicksGrace: TimeInterval = 1

/// The ticks of `expression` (read in `zone`) to run now: those in `(lastTick, now]`, filtered
/// by `policy`:
/// - ``CatchUpPolicy/latest``: the newest of them, if any (zero or one date);
/// - ``CatchUpPolicy/all``: all of them in order, at most `limit` — the newest `limit` when more are due;
/// - ``CatchUpPolicy/none``: only those at or after `now - dueTicksGrace` (the tick happening
///   now); older missed ticks are dropped.
///
/// The search works backwards in doubling windows from `now`, so a `lastTick` years ago does not
/// make it walk every missed tick of a per-second schedule.
public func dueTicks(of expression: CronExpression, in zone: TimeZone, after lastTick: Date,
                     through now: Date, policy: CatchUpPolicy, limit: Int = 1000) -> [Date] {
    computeDueTicks(of: expression, in: zone, after: lastTick, through: now, policy: policy, limit: limit)
}

/// The body of ``dueTicks(of:in:after:through:policy:limit:)``, under a name that
/// `ScheduleDefinition.dueTicks(after:through:limit:)` does not shadow.
func computeDueTicks(of expression: CronExpression, in zone: TimeZone, after lastTick: Date,
                     through now: Date, policy: CatchUpPolicy, limit: Int) -> [Date] {
    guard lastTick < now else { return [] }
    switch policy {
    case .latest:
        return newestTicks(of: expression, in: zone, after: lastTick, through: now, count: 1)
    case .all:
        guard limit > 0 else { return [] }
        return newestTicks(of: expression, in: zone, after: lastTick, through: now, count: limit)
    case .none:
        let earliest = now.addingTimeInterval(-dueTicksGrace)
        // Ticks are whole seconds; start a little before the grace window and filter.
        let from = max(lastTick, earliest.addingTimeInterval(-1))
        var ticks: [Date] = []
        var cursor = from
        while let tick = expression.next(after: cursor, in: zone), tick <= now {
            if tick >= earliest { ticks.append(tick) }
            cursor = tick
        }
        return ticks
    }
}

/// The newest `count` ticks in `(lastTick, now]`, oldest first.
private func newestTicks(of expression: CronExpression, in zone: TimeZone, after lastTick: Date,
                         through now: Date, count: Int) -> [Date] {
    var window: TimeInterval = 2
    while true {
        let windowStart = max(lastTick, now.addingTimeInterval(-window))
        var ticks: [Date] = []
        var cursor = windowStart
        while let tick = expression.next(after: cursor, in: zone), tick <= now {
            ticks.append(tick)
            // Trim in batches, keeping the newest `count`.
            if ticks.count >= 2 * count { ticks.removeFirst(ticks.count - count) }
            cursor = tick
        }
        if ticks.count > count { ticks.removeFirst(ticks.count - count) }
        // Enough ticks, or the window already reaches back to `lastTick`: done.
        if ticks.count >= count || windowStart == lastTick { return ticks }
        window *= 2
    }
}
