import Foundation

/// Why a cron expression was rejected.
///
/// Every case carries the expression as written and, where one field is at fault, its
/// 1-based position in the text (a six-field expression counts the seconds field as field 1)
/// and its kind, so that ``description`` points straight at the problem:
///
///     cron expression "0 25 * * *": field 2 (hour) value 25 is out of range 0-23
public enum CronError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The expression is empty or only white space.
    case empty
    /// Not five fields (minute hour day-of-month month day-of-week) nor six (with a leading second).
    case wrongFieldCount(expression: String, count: Int)
    /// An `@` word that is not one of the supported macros.
    case unknownMacro(expression: String)
    /// A list with nothing between two commas, or a leading or trailing comma (`1,,2`, `5,`).
    case emptyListItem(expression: String, position: Int, field: CronFieldKind)
    /// A number outside the field's range (`25` in the hour field).
    case outOfRange(expression: String, position: Int, field: CronFieldKind, value: String)
    /// A range whose start lies after its end (`17-9`, `FRI-MON`).
    case invertedRange(expression: String, position: Int, field: CronFieldKind, range: String)
    /// A step that is missing, not a number, zero or larger than the field allows (`*/0`, `*/x`).
    case invalidStep(expression: String, position: Int, field: CronFieldKind, step: String)
    /// A word that is not a month name (JAN-DEC) or weekday name (SUN-SAT) in a field that takes names.
    case unknownName(expression: String, position: Int, field: CronFieldKind, name: String)
    /// Something that is not a number where a number is needed (`x`, `L`, `?`, names in the hour field).
    case notANumber(expression: String, position: Int, field: CronFieldKind, value: String)
    /// An item whose shape is wrong: a range with a missing end (`1-`, `-5`), `*` in a range, two steps.
    case malformedItem(expression: String, position: Int, field: CronFieldKind, item: String)

    /// One line naming the expression, the field at fault and the problem.
    public var description: String {
        switch self {
        case .empty:
            return "cron expression \"\": it is empty; expected five fields (minute hour day-of-month month day-of-week), six with a leading second, or a macro such as @daily"
        case let .wrongFieldCount(expression, count):
            return "cron expression \"\(expression)\": expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading second, found \(count)"
        case let .unknownMacro(expression):
            return "cron expression \"\(expression)\": unknown macro; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"
        case let .emptyListItem(expression, position, field):
            return Self.prefix(expression, position, field) + "has an empty list item"
        case let .outOfRange(expression, position, field, value):
            return Self.prefix(expression, position, field) + "value \(value) is out of range \(field.rangeText)"
        case let .invertedRange(expression, position, field, range):
            return Self.prefix(expression, position, field) + "range \(range) is inverted (its start is after its end)"
        case let .invalidStep(expression, position, field, step):
            return Self.prefix(expression, position, field) + "step \"\(step)\" is invalid; it must be a number from 1 to \(field.maximumStep)"
        case let .unknownName(expression, position, field, name):
            return Self.prefix(expression, position, field) + "name \"\(name)\" is unknown; use \(field.namesText ?? field.rangeText)"
        case let .notANumber(expression, position, field, value):
            return Self.prefix(expression, position, field) + "value \"\(value)\" is not a number"
        case let .malformedItem(expression, position, field, item):
            return Self.prefix(expression, position, field) + "item \"\(item)\" is malformed; expected N, N-M, *, with an optional /STEP"
        }
    }

    private static func prefix(_ expression: String, _ position: Int, _ field: CronFieldKind) -> String {
        "cron expression \"\(expression)\": field \(position) (\(field.name)) "
    }
}

extension CronError: LocalizedError {
    public var errorDescription: String? { description }
}
