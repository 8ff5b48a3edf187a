import Foundation

/// Form-encoded parameters in Stripe's style: nested values as `metadata[tenant_id]=acme`,
/// list items as `expand[0]=…`. Order is kept, so the same call always encodes the same bytes.
public struct FormParameters: Sendable, Equatable {
    public private(set) var pairs: [(key: String, value: String)] = []

    public init() {}

    public mutating func add(_ key: String, _ value: String?) {
        if let value { pairs.append((key, value)) }
    }

    public mutating func add(_ key: String, _ value: Int?) { add(key, value.map(String.init)) }

    public mutating func add(_ key: String, _ value: Bool?) { add(key, value.map { $0 ? "true" : "false" }) }

    /// Adds `key[name]=value` for each entry, sorted by name.
    public mutating func add(_ key: String, _ dictionary: [String: String]) {
        for (name, value) in dictionary.sorted(by: { $0.key < $1.key }) { add("\(key)[\(name)]", value) }
    }

    /// The `application/x-www-form-urlencoded` body.
    public var encoded: String {
        pairs.map { Self.escape($0.key) + "=" + Self.escape($0.value) }.joined(separator: "&")
    }

    public static func == (lhs: FormParameters, rhs: FormParameters) -> Bool {
        lhs.pairs.elementsEqual(rhs.pairs) { $0.key == $1.key && $0.value == $1.value }
    }

    /// RFC 3986 unreserved characters: everything else is percent-encoded.
    static let unreserved = CharacterSet(charactersIn:
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}
