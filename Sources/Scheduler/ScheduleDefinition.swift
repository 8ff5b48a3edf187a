import Foundation

/// One schedule: run a job of kind `jobKind` with `argumentsJSON` whenever `cron` fires in `timeZone`.
///
/// Loaded from one YAML file by ``ScheduleFiles/load(directory:)``; see there for the keys.
public struct ScheduleDefinition: Sendable, Equatable {
    /// The schedule's unique name (the key its last tick is remembered under).
    public var name: String
    /// When it fires.
    public var cron: CronExpression
    /// The cron expression as written in the file.
    public var cronText: String { cron.text }
    /// The IANA zone the expression's wall-clock times are read in (UTC by default).
    public var timeZone: TimeZone
    /// The job kind to enqueue, e.g. `reports.nightly`; checked against the registry by
    /// `validate(knownKinds:)`.
    public var jobKind: String
    /// The job's arguments: the file's `args` mapping as a JSON object with sorted keys, `{}` if absent.
    public var argumentsJSON: String
    /// The queue to enqueue on; nil for the job kind's default queue.
    public var queue: String?
    /// What to do with ticks missed while the scheduler was not running (`.latest` by default).
    public var catchUp: CatchUpPolicy
    /// Whether the schedule fires at all (true by default).
    public var enabled: Bool
    /// The file it was loaded from (empty for schedules built in code), for error messages.
    public var file: String

    /// UTC, the default zone.
    public static let utc: TimeZone = TimeZone(identifier: "UTC") ?? .gmt

    public init(name: String, cron: CronExpression, timeZone: TimeZone = ScheduleDefinition.utc,
                jobKind: String, argumentsJSON: String = "{}", queue: String? = nil,
                catchUp: CatchUpPolicy = .latest, enabled: Bool = true, file: String = "") {
        self.name = name
        self.cron = cron
        self.timeZone = timeZone
        self.jobKind = jobKind
        self.argumentsJSON = argumentsJSON
        self.queue = queue
        self.catchUp = catchUp
        self.enabled = enabled
        self.file = file
    }

    /// The first firing time strictly after `date`, or nil if none within 8 years.
    public func nextRun(after date: Date) -> Date? {
        cron.next(after: date, in: timeZone)
    }

    /// The ticks to run now, after `lastTick` up to `now`, under this schedule's catch-up policy.
    public func dueTicks(after lastTick: Date, through now: Date, limit: Int = 1000) -> [Date] {
        computeDueTicks(of: cron, in: timeZone, after: lastTick, through: now, policy: catchUp, limit: limit)
    }
}
