/// Why the schedule files were rejected. ``description`` is one line starting with the file.
public enum ScheduleError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The directory could not be listed.
    case unreadableDirectory(path: String, reason: String)
    /// The file could not be read as UTF-8 text.
    case unreadableFile(file: String, reason: String)
    /// The file is not valid YAML (or holds more than one document).
    case invalidYAML(file: String, reason: String)
    /// The file is empty or its top level is not a mapping.
    case notAMapping(file: String)
    /// A key other than name, cron, timezone, job, args, queue, catch_up, enabled.
    case unknownKey(file: String, key: String)
    /// A required key (`name`, `cron`, `job`) is absent.
    case missingKey(file: String, key: String)
    /// A key has a value of the wrong type or shape.
    case invalidValue(file: String, key: String, reason: String)
    /// The cron expression does not parse.
    case invalidCron(file: String, error: CronError)
    /// The time zone is not a known IANA identifier.
    case unknownTimeZone(file: String, identifier: String)
    /// Two files use the same schedule name.
    case duplicateName(file: String, name: String, firstFile: String)
    /// The job kind is not in the registry (raised by `validate(knownKinds:)`).
    case unregisteredJobKind(file: String, kind: String)
    /// The arguments do not decode into the job kind's arguments type (raised by the scheduler
    /// at start-up, so a schedule that could never enqueue does not wait for its first tick).
    case rejectedArguments(file: String, kind: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadableDirectory(path, reason):
            return "\(path): cannot read the schedules directory: \(reason)"
        case let .unreadableFile(file, reason):
            return "\(file): cannot read the file: \(reason)"
        case let .invalidYAML(file, reason):
            return "\(file): invalid YAML: \(reason)"
        case let .notAMapping(file):
            return "\(file): the file must hold one schedule, a mapping with keys name, cron, job (and optionally timezone, args, queue, catch_up, enabled)"
        case let .unknownKey(file, key):
            return "\(file): unknown key '\(key)' (allowed: \(ScheduleFiles.allowedKeys.joined(separator: ", ")))"
        case let .missingKey(file, key):
            return "\(file): missing required key '\(key)'"
        case let .invalidValue(file, key, reason):
            return "\(file): '\(key)' \(reason)"
        case let .invalidCron(file, error):
            return "\(file): \(error.description)"
        case let .unknownTimeZone(file, identifier):
            return "\(file): unknown time zone '\(identifier)' (use an IANA name such as Europe/Berlin or UTC)"
        case let .duplicateName(file, name, firstFile):
            return "\(file): schedule name '\(name)' is already used by \(firstFile)"
        case let .unregisteredJobKind(file, kind):
            return "\(file): job kind '\(kind)' is not registered"
        case let .rejectedArguments(file, kind, reason):
            return "\(file): 'args' are not valid for job kind '\(kind)': \(reason)"
        }
    }
}
