/// The six kinds of field a cron expression can have, in the order they are written.
public enum CronFieldKind: String, Sendable, Equatable, CaseIterable {
    case second, minute, hour, dayOfMonth, month, dayOfWeek

    /// The name used in error messages: `minute`, `day-of-month`, …
    public var name: String {
        switch self {
        case .second: return "second"
        case .minute: return "minute"
        case .hour: return "hour"
        case .dayOfMonth: return "day-of-month"
        case .month: return "month"
        case .dayOfWeek: return "day-of-week"
        }
    }

    /// The values a field may name. Day-of-week takes 0-7, both 0 and 7 being Sunday.
    public var range: ClosedRange<Int> {
        switch self {
        case .second, .minute: return 0...59
        case .hour: return 0...23
        case .dayOfMonth: return 1...31
        case .month: return 1...12
        case .dayOfWeek: return 0...7
        }
    }

    /// The last value a bare `*` or an open `N/STEP` runs to (6 for day-of-week, so that
    /// `1/2` means Monday, Wednesday, Friday and not also Sunday-as-7).
    var openEnd: Int { self == .dayOfWeek ? 6 : range.upperBound }

    /// The largest step accepted after `/`.
    var maximumStep: Int { range.upperBound }

    var rangeText: String { "\(range.lowerBound)-\(range.upperBound)" }

    /// Names the field accepts instead of numbers, uppercase, mapped to their value.
    var names: [String: Int] {
        switch self {
        case .month:
            return ["JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
                    "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12]
        case .dayOfWeek:
            return ["SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6]
        default:
            return [:]
        }
    }

    var namesText: String? {
        switch self {
        case .month: return "JAN-DEC or 1-12"
        case .dayOfWeek: return "SUN-SAT or 0-7"
        default: return nil
        }
    }
}

/// One parsed field: the set of values it allows, as a bitmask (bit N set = value N allowed).
///
/// Syntax: a comma-separated list of items; an item is `*`, `N`, `N-M`, each optionally
/// followed by `/STEP`; `N/STEP` runs from N to the end of the field's range. Month and
/// day-of-week fields also take three-letter English names in any case (`JAN`, `mon`).
/// In day-of-week, 7 is folded onto 0 (Sunday).
struct CronField: Sendable, Equatable {
    let kind: CronFieldKind
    /// Bit N set when value N is allowed.
    let bits: UInt64
    /// Whether the text began with `*` — what Vixie cron looks at to decide whether
    /// day-of-month and day-of-week combine with OR (both restricted) or AND.
    let startsWithStar: Bool

    init(kind: CronFieldKind, bits: UInt64, startsWithStar: Bool) {
        self.kind = kind
        self.bits = bits
        self.startsWithStar = startsWithStar
    }

    /// A field allowing exactly one value (used for the implicit `0` seconds of five-field expressions).
    init(kind: CronFieldKind, only value: Int) {
        self.init(kind: kind, bits: UInt64(1) << UInt64(value), startsWithStar: false)
    }

    func contains(_ value: Int) -> Bool {
        guard value >= 0, value < 64 else { return false }
        return bits & (UInt64(1) << UInt64(value)) != 0
    }

    /// The smallest allowed value that is >= `value`, or nil if there is none.
    func next(atOrAfter value: Int) -> Int? {
        let from = max(value, 0)
        guard from <= kind.range.upperBound else { return nil }
        let remaining = bits & (~UInt64(0) << UInt64(from))
        return remaining == 0 ? nil : remaining.trailingZeroBitCount
    }

    /// Parses `text`, the field at 1-based `position` of `expression` (used in errors only).
    static func parse(_ text: Substring, kind: CronFieldKind, position: Int,
                      expression: String) throws(CronError) -> CronField {
        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else {
                throw .emptyListItem(expression: expression, position: position, field: kind)
            }
            bits |= try parseItem(item, kind: kind, position: position, expression: expression)
        }
        if kind == .dayOfWeek, bits & (1 << 7) != 0 {
            bits = (bits & ~(UInt64(1) << 7)) | 1
        }
        return CronField(kind: kind, bits: bits, startsWithStar: text.hasPrefix("*"))
    }

    private static func parseItem(_ item: Substring, kind: CronFieldKind, position: Int,
                                  expression: String) throws(CronError) -> UInt64 {
        let parts = item.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty else {
            throw .malformedItem(expression: expression, position: position, field: kind, item: String(item))
        }
        var step = 1
        if parts.count == 2 {
            let stepText = parts[1]
            guard stepText.allSatisfy(\.isASCIIDigit), let value = Int(stepText),
                  (1...kind.maximumStep).contains(value) else {
                throw .invalidStep(expression: expression, position: position, field: kind, step: String(stepText))
            }
            step = value
        }
        let base = parts[0]
        let low: Int
        let high: Int
        if base == "*" {
            low = kind.range.lowerBound
            high = kind.openEnd
        } else {
            let ends = base.split(separator: "-", omittingEmptySubsequences: false)
            guard ends.count <= 2, ends.allSatisfy({ !$0.isEmpty && $0 != "*" }) else {
                throw .malformedItem(expression: expression, position: position, field: kind, item: String(item))
            }
            low = try value(ends[0], kind: kind, position: position, expression: expression)
            if ends.count == 2 {
                high = try value(ends[1], kind: kind, position: position, expression: expression)
                guard low <= high else {
                    throw .invertedRange(expression: expression, position: position, field: kind, range: String(base))
                }
            } else {
                // `N/STEP` runs to the end of the range; a bare `N` is just N.
                high = parts.count == 2 ? max(low, kind.openEnd) : low
            }
        }
        var bits: UInt64 = 0
        for value in stride(from: low, through: high, by: step) {
            bits |= UInt64(1) << UInt64(value)
        }
        return bits
    }

    private static func value(_ text: Substring, kind: CronFieldKind, position: Int,
                              expression: String) throws(CronError) -> Int {
        if text.allSatisfy(\.isASCIIDigit) {
            guard let number = Int(text), kind.range.contains(number) else {
                throw .outOfRange(expression: expression, position: position, field: kind, value: String(text))
            }
            return number
        }
        let names = kind.names
        if !names.isEmpty, text.allSatisfy(\.isLetter) {
            guard let number = names[text.uppercased()] else {
                throw .unknownName(expression: expression, position: position, field: kind, name: String(text))
            }
            return number
        }
        throw .notANumber(expression: expression, position: position, field: kind, value: String(text))
    }
}

fileprivate extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
