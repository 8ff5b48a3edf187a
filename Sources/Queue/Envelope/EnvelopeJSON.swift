/// Writes envelopes as JSON by hand: enqueueing is the hot path of the ingress and of bulk
/// enqueues, and a direct writer is several times faster than `JSONEncoder`. The output is
/// ordinary JSON that `JSONDecoder` (and any operator's tool) reads.
struct JSONText {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ value: String) { JSONString.append(value, to: &bytes) }

    mutating func int(_ value: Int64) { bytes.append(contentsOf: String(value).utf8) }

    mutating func optionalString(_ value: String?) {
        if let value { string(value) } else { raw("null") }
    }

    mutating func value(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let b): if b { raw("true") } else { raw("false") }
        case .number(let n):
            if n.isNaN || n.isInfinite { raw("null") }
            else if n.rounded() == n, abs(n) < 1e15 { int(Int64(n)) }
            else { bytes.append(contentsOf: String(n).utf8) }
        case .string(let s): string(s)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                self.value(item)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (i, key) in members.keys.sorted().enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                string(key)
                bytes.append(UInt8(ascii: ":"))
                self.value(members[key] ?? .null)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

}

/// JSON string literals written by hand, for every hot path that writes JSON (envelopes, the
/// ingress's answers, log lines): one escaping rule for the whole platform.
public enum JSONString {
    private static let hex = Array("0123456789abcdef".utf8)

    /// Appends `value` as a JSON string literal, quotes included: `"` and `\\` escaped, control
    /// characters as `\\n`, `\\r`, `\\t` or `\\u00XX`; everything else (UTF-8, `/`) as is.
    public static func append(_ value: String, to out: inout [UInt8]) {
        var value = value
        value.withUTF8 { append(utf8: $0, to: &out) }
    }

    /// The same for a substring (no copy into a new String).
    public static func append(_ value: Substring, to out: inout [UInt8]) {
        var value = value
        value.withUTF8 { append(utf8: $0, to: &out) }
    }

    /// Concrete bytes, so the loop is compiled for them (a generic `StringProtocol` walk costs
    /// a witness call per byte, which showed up as a tenth of the ingress's CPU).
    private static func append(utf8 bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + bytes.count + 2)
        out.append(UInt8(ascii: "\""))
        var start = 0
        for (i, byte) in bytes.enumerated() where byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
            start = i + 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
            case 0x0a: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0d: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            default:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0f)])
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        out.append(UInt8(ascii: "\""))
    }
}

extension JobEnvelope {
    /// The envelope as JSON bytes, as stored in Redis.
    public func encoded() throws(JobFailure) -> [UInt8] {
        var w = JSONText()
        w.raw("{\"id\":"); w.string(id)
        w.raw(",\"kind\":"); w.string(kind)
        w.raw(",\"queue\":"); w.string(queue)
        w.raw(",\"tenant\":"); w.optionalString(tenant)
        w.raw(",\"args\":"); w.value(args)
        w.raw(",\"attempt\":"); w.int(Int64(attempt))
        w.raw(",\"max_attempts\":"); w.int(Int64(maxAttempts))
        w.raw(",\"enqueued_at\":"); w.int(enqueuedAt)
        w.raw(",\"due_at\":"); if let dueAt { w.int(dueAt) } else { w.raw("null") }
        w.raw(",\"errors\":[")
        for (i, error) in errors.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"attempt\":"); w.int(Int64(error.attempt))
            w.raw(",\"at\":"); w.int(error.at)
            w.raw(",\"message\":"); w.string(error.message)
            w.raw("}")
        }
        w.raw("],\"trace\":"); w.optionalString(trace)
        if let crashes, crashes > 0 { w.raw(",\"crashes\":"); w.int(Int64(crashes)) }
        w.raw("}")
        return w.bytes
    }
}
