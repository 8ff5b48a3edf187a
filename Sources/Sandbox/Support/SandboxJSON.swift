import Foundation

/// A JSON value as the sandbox stores and answers it. Numbers stay exact: integers as `Int`,
/// others as `Decimal`.
enum SandboxJSON: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case int(Int)
    case decimal(Decimal)
    case string(String)
    case array([SandboxJSON])
    case object([String: SandboxJSON])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let value = try? c.decode(Bool.self) { self = .bool(value) }
        else if let value = try? c.decode(Int.self) { self = .int(value) }
        else if let value = try? c.decode(Decimal.self) { self = .decimal(value) }
        else if let value = try? c.decode(String.self) { self = .string(value) }
        else if let value = try? c.decode([SandboxJSON].self) { self = .array(value) }
        else { self = .object(try c.decode([String: SandboxJSON].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let value): try c.encode(value)
        case .int(let value): try c.encode(value)
        case .decimal(let value): try c.encode(value)
        case .string(let value): try c.encode(value)
        case .array(let value): try c.encode(value)
        case .object(let value): try c.encode(value)
        }
    }

    subscript(key: String) -> SandboxJSON? {
        get { if case .object(let members) = self { return members[key] } else { return nil } }
        set {
            guard case .object(var members) = self else { return }
            members[key] = newValue
            self = .object(members)
        }
    }

    var string: String? { if case .string(let value) = self { return value } else { return nil } }
    var int: Int? { if case .int(let value) = self { return value } else { return nil } }
    var bool: Bool? { if case .bool(let value) = self { return value } else { return nil } }
    var object: [String: SandboxJSON]? { if case .object(let value) = self { return value } else { return nil } }
    var array: [SandboxJSON]? { if case .array(let value) = self { return value } else { return nil } }

    /// A number (integer or decimal) as `Decimal`.
    var decimal: Decimal? {
        switch self {
        case .int(let value): return Decimal(value)
        case .decimal(let value): return value
        default: return nil
        }
    }

    /// Parses a request body; `nil` when it is not JSON.
    static func parse(_ data: Data) -> SandboxJSON? { try? JSONDecoder().decode(SandboxJSON.self, from: data) }

    /// Compact JSON bytes, keys sorted, so the same value always answers the same bytes.
    var data: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data("null".utf8)
    }

    /// Shallow merge: `other`'s members replace this object's (a PATCH / POST update).
    func merging(_ other: [String: SandboxJSON]) -> SandboxJSON {
        guard case .object(var members) = self else { return .object(other) }
        for (key, value) in other { members[key] = value }
        return .object(members)
    }
}

extension SandboxJSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral {
    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .int(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(dictionaryLiteral elements: (String, SandboxJSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    init(arrayLiteral elements: SandboxJSON...) { self = .array(elements) }
    init(nilLiteral: ()) { self = .null }
}

extension Optional where Wrapped == String {
    /// A string or JSON null.
    var json: SandboxJSON { map(SandboxJSON.string) ?? .null }
}
