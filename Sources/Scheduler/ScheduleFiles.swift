import Foundation
import Queue
import Yams

/// Reads the schedules directory: one schedule per `*.yaml` / `*.yml` file.
///
///     # Schedules/nightly-report.yaml
///     name: nightly-report          # required, unique across files
///     cron: "30 2 * * *"            # required; quote it (YAML reserves a leading * or @)
///     timezone: Europe/Berlin       # IANA name, default UTC
///     job: reports.nightly          # required, a registered job kind
///     args: { format: pdf }         # optional mapping, becomes `argumentsJSON`
///     queue: reports                # optional
///     catch_up: latest              # latest (default), all or none
///     enabled: true                 # default true
public enum ScheduleFiles {
    /// The keys a schedule file may have.
    public static let allowedKeys = ["name", "cron", "timezone", "job", "args", "queue", "catch_up", "enabled"]

    /// Loads every `*.yaml` / `*.yml` file in `directory` (not its subdirectories, not hidden
    /// files), in file-name order.
    /// - Throws: ``ScheduleError`` for the first bad file: unreadable or invalid YAML, unknown or
    ///   missing keys, a bad value, an invalid cron expression, an unknown time zone, or a name
    ///   used by an earlier file.
    public static func load(directory: String) throws(ScheduleError) -> [ScheduleDefinition] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw .unreadableDirectory(path: directory, reason: oneLine(error.localizedDescription))
        }
        // `.YAML` counts as `.yaml`; a directory named so is passed over; anything else that
        // cannot be read (a dangling link) is an error naming it, not a schedule gone in silence.
        let files = names
            .filter { name in
                let lower = name.lowercased()
                return !name.hasPrefix(".") && (lower.hasSuffix(".yaml") || lower.hasSuffix(".yml"))
            }
            .sorted()
            .map { directory.hasSuffix("/") ? directory + $0 : directory + "/" + $0 }
            .filter { path in
                var isDirectory: ObjCBool = false
                return !(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue)
            }
        var schedules: [ScheduleDefinition] = []
        var fileByName: [String: String] = [:]
        for file in files {
            let schedule = try load(file: file)
            if let firstFile = fileByName[schedule.name] {
                throw .duplicateName(file: file, name: schedule.name, firstFile: firstFile)
            }
            fileByName[schedule.name] = file
            schedules.append(schedule)
        }
        return schedules
    }

    /// Loads the one schedule in `file`.
    public static func load(file: String) throws(ScheduleError) -> ScheduleDefinition {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw .unreadableFile(file: file, reason: oneLine(error.localizedDescription))
        }
        return try parse(yaml: text, file: file)
    }

    /// Parses the text of one schedule file; `file` is used in errors and kept on the result.
    public static func parse(yaml text: String, file: String) throws(ScheduleError) -> ScheduleDefinition {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw .invalidYAML(file: file, reason: describe(error, in: text))
        }
        guard let root, let mapping = root.mapping else { throw .notAMapping(file: file) }

        var values: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string, allowedKeys.contains(key) else {
                throw .unknownKey(file: file, key: keyNode.scalar?.string ?? "\(keyNode)")
            }
            guard values[key] == nil else {
                throw .invalidValue(file: file, key: key, reason: "appears more than once")
            }
            values[key] = value
        }

        func string(_ key: String, required: Bool) throws(ScheduleError) -> String? {
            guard let node = values[key], tagName(node) != .null else {
                if required { throw .missingKey(file: file, key: key) }
                return nil
            }
            guard let scalar = node.scalar else {
                throw .invalidValue(file: file, key: key, reason: "must be a single value, not a list or mapping")
            }
            let value = scalar.string.trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty else { throw .invalidValue(file: file, key: key, reason: "must not be empty") }
            return value
        }

        let name = try string("name", required: true) ?? ""
        let cronText = try string("cron", required: true) ?? ""
        let jobKind = try string("job", required: true) ?? ""
        let cron: CronExpression
        do {
            cron = try CronExpression(cronText)
        } catch {
            throw .invalidCron(file: file, error: error)
        }
        var timeZone = ScheduleDefinition.utc
        if let identifier = try string("timezone", required: false) {
            guard let zone = TimeZone(identifier: identifier) else {
                throw .unknownTimeZone(file: file, identifier: identifier)
            }
            timeZone = zone
        }
        // `0 0 30 2 *` parses and never fires: a schedule that could never enqueue stops the start.
        guard cron.next(after: Date(), in: timeZone) != nil else {
            throw .invalidValue(file: file, key: "cron", reason: "'\(cronText)' never fires (no date matches it)")
        }
        let queue = try string("queue", required: false)
        if let queue, !KeyName.isValid(queue) {
            throw .invalidValue(file: file, key: "queue", reason: "must be \(KeyName.rule), not '\(queue)'")
        }
        var catchUp = CatchUpPolicy.latest
        if let policy = try string("catch_up", required: false) {
            guard let value = CatchUpPolicy(rawValue: policy) else {
                throw .invalidValue(file: file, key: "catch_up", reason: "must be latest, all or none, not '\(policy)'")
            }
            catchUp = value
        }
        var enabled = true
        if let node = values["enabled"] {
            guard let value = node.bool, node.scalar?.style == .plain else {
                throw .invalidValue(file: file, key: "enabled", reason: "must be true or false")
            }
            enabled = value
        }
        let argumentsJSON = try arguments(values["args"], file: file)

        return ScheduleDefinition(name: name, cron: cron, timeZone: timeZone, jobKind: jobKind,
                                  argumentsJSON: argumentsJSON, queue: queue,
                                  catchUp: catchUp, enabled: enabled, file: file)
    }

    /// Checks that every schedule's job kind is registered.
    /// - Throws: ``ScheduleError/unregisteredJobKind(file:kind:)`` for the first that is not.
    public static func validate(_ schedules: [ScheduleDefinition], knownKinds: Set<String>) throws(ScheduleError) {
        for schedule in schedules where !knownKinds.contains(schedule.jobKind) {
            throw .unregisteredJobKind(file: schedule.file.isEmpty ? schedule.name : schedule.file,
                                       kind: schedule.jobKind)
        }
    }

    // MARK: - Arguments

    /// The `args` node as a JSON object string with sorted keys; `{}` when absent or null.
    private static func arguments(_ node: Node?, file: String) throws(ScheduleError) -> String {
        guard let node, tagName(node) != .null else { return "{}" }
        guard node.mapping != nil else {
            throw .invalidValue(file: file, key: "args", reason: "must be a mapping of argument names to values")
        }
        let object = try json(node, file: file, path: "args")
        guard JSONSerialization.isValidJSONObject(object) else {
            throw .invalidValue(file: file, key: "args", reason: "cannot be written as JSON")
        }
        do {
            let data = try JSONSerialization.data(withJSONObject: object,
                                                  options: [.sortedKeys, .withoutEscapingSlashes])
            return String(decoding: data, as: UTF8.self)
        } catch {
            throw .invalidValue(file: file, key: "args", reason: "cannot be written as JSON: \(oneLine(error.localizedDescription))")
        }
    }

    /// A YAML node as a JSONSerialization object: mappings with string keys, sequences, and
    /// scalars by their resolved tag (null, bool, int, float; anything else as a string).
    private static func json(_ node: Node, file: String, path: String) throws(ScheduleError) -> Any {
        switch node {
        case let .mapping(mapping):
            var object: [String: Any] = [:]
            for (keyNode, value) in mapping {
                guard let key = keyNode.scalar?.string else {
                    throw .invalidValue(file: file, key: "args", reason: "has a non-string key under \(path)")
                }
                object[key] = try json(value, file: file, path: "\(path).\(key)")
            }
            return object
        case let .sequence(sequence):
            var array: [Any] = []
            for (index, element) in sequence.enumerated() {
                array.append(try json(element, file: file, path: "\(path)[\(index)]"))
            }
            return array
        case let .scalar(scalar):
            switch tagName(node) {
            case .null: return NSNull()
            case .bool: return node.bool ?? scalar.string
            case .int: return node.int ?? scalar.string
            case .float:
                guard let value = node.float, value.isFinite else {
                    throw .invalidValue(file: file, key: "args", reason: "has \(path) = \(scalar.string), which JSON cannot hold")
                }
                return value
            default: return scalar.string
            }
        }
    }

    /// The node's resolved tag (`Tag.name` is internal to Yams; its description is the name).
    private static func tagName(_ node: Node) -> Tag.Name {
        Tag.Name(rawValue: node.tag.description)
    }

    // MARK: - Messages

    private static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
    }

    /// A one-line description of a YAML error, with a hint for the usual mistake: an unquoted
    /// cron expression starting with `*` or `@`, which YAML reads as an alias or reserved character.
    private static func describe(_ error: any Error, in text: String) -> String {
        var message: String
        if let error = error as? YamlError {
            switch error {
            case let .scanner(context, problem, mark, _),
                 let .parser(context, problem, mark, _),
                 let .composer(context, problem, mark, _):
                message = "line \(mark.line), column \(mark.column): \(context.map { "\($0.text): " } ?? "")\(problem)"
            default:
                message = oneLine(error.description)
            }
        } else {
            message = oneLine("\(error)")
        }
        let unquotedCron = text.split(whereSeparator: \.isNewline).contains { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("cron:") else { return false }
            let value = trimmed.dropFirst("cron:".count).trimmingCharacters(in: .whitespaces)
            return value.hasPrefix("*") || value.hasPrefix("@")
        }
        if unquotedCron {
            message += " (quote the cron expression, e.g. cron: \"*/5 * * * *\")"
        }
        return message
    }
}

extension Array where Element == ScheduleDefinition {
    /// Checks that every schedule's job kind is in `knownKinds` (the job registry's kinds).
    /// - Throws: ``ScheduleError/unregisteredJobKind(file:kind:)``, e.g.
    ///   `Schedules/x.yaml: job kind 'foo.bar' is not registered`.
    public func validate(knownKinds: Set<String>) throws(ScheduleError) {
        try ScheduleFiles.validate(self, knownKinds: knownKinds)
    }
}
