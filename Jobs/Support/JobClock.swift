import Foundation
import Synchronization

/// Where the money jobs (billing cycles, dunning, subscriptions) take "now" from.
///
/// Production uses ``system``: the machine's clock. A test — or a local run against the sandbox —
/// uses a manual clock it controls: ``manual(at:)`` starts one at a fixed instant, and
/// ``set(_:)`` / ``advance(by:)`` move it, so a test walks a subscription through a month of
/// billing and two weeks of dunning in seconds. A `cityos` process takes a manual clock from
/// `CITYOS_BILLING_CLOCK` (see ``fromEnvironment(_:)``); docs/billing.md says how.
///
/// Only the jobs' business time comes from here (periods, due dates, dunning); the queue's own
/// timing (retries, heartbeats, delays) stays on the real clock.
public final class JobClock: Sendable {
    private enum Source {
        case system
        /// The manual time, and the offset kept when the clock runs (`CITYOS_BILLING_CLOCK=+…`).
        case manual(Date)
        case offset(TimeInterval)
    }
    private let source: Mutex<Source>

    private init(_ source: Source) { self.source = Mutex(source) }

    /// The machine's clock; ``set(_:)`` and ``advance(by:)`` are ignored.
    public static let system = JobClock(.system)

    /// A clock that stands at `date` until it is set or advanced.
    public static func manual(at date: Date) -> JobClock { JobClock(.manual(date)) }

    /// A clock that runs with the machine's, `seconds` ahead of it (behind when negative).
    public static func offset(by seconds: TimeInterval) -> JobClock { JobClock(.offset(seconds)) }

    /// The clock a process runs with, from `CITYOS_BILLING_CLOCK`: unset or `system` → ``system``;
    /// an ISO 8601 instant (`2026-12-01T00:00:00Z`) → a manual clock standing there; `+86400` or
    /// `-3600` → the system clock shifted by that many seconds. Anything else throws, naming it.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> JobClock {
        guard let value = environment["CITYOS_BILLING_CLOCK"]?.trimmingCharacters(in: .whitespaces),
              !value.isEmpty, value != "system" else { return .system }
        if let first = value.first, first == "+" || first == "-", let seconds = TimeInterval(value) {
            return .offset(by: seconds)
        }
        if let date = ISO8601DateFormatter().date(from: value) { return .manual(at: date) }
        throw JobClockError.invalidSetting(value)
    }

    /// Now, by this clock.
    public func now() -> Date {
        source.withLock { source in
            switch source {
            case .system: return Date()
            case .manual(let date): return date
            case .offset(let seconds): return Date().addingTimeInterval(seconds)
            }
        }
    }

    /// Whether this is the machine's clock (set and advance do nothing).
    public var isSystem: Bool { source.withLock { if case .system = $0 { return true } else { return false } } }

    /// Moves a manual clock to `date` (an offset clock to run from `date`).
    public func set(_ date: Date) {
        source.withLock { source in
            switch source {
            case .system: return
            case .manual: source = .manual(date)
            case .offset: source = .offset(date.timeIntervalSinceNow)
            }
        }
    }

    /// Moves the clock forward by `seconds` (backward when negative).
    public func advance(by seconds: TimeInterval) {
        source.withLock { source in
            switch source {
            case .system: return
            case .manual(let date): source = .manual(date.addingTimeInterval(seconds))
            case .offset(let offset): source = .offset(offset + seconds)
            }
        }
    }
}

public enum JobClockError: Error, CustomStringConvertible {
    case invalidSetting(String)

    public var description: String {
        switch self {
        case .invalidSetting(let value):
            return "CITYOS_BILLING_CLOCK=\(value): use `system`, an ISO 8601 instant (2026-12-01T00:00:00Z) or an offset in seconds (+86400)"
        }
    }
}
