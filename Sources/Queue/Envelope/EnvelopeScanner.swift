/// Reads an envelope's header fields and finds its arguments without `JSONDecoder`: starting
/// a job is the hot path of every worker, and a scan of the one flat object we write is far
/// cheaper than building a general JSON map for it. The arguments are only located here; the
/// handler's own `Codable` type decodes them (`AnyJobHandler`), so they are decoded once.
struct EnvelopeScanner {
    private let bytes: [UInt8]
    private var i = 0

    /// What the scan found: the header, and where the `args` value lies in the bytes.
    struct Result {
        var header: JobEnvelope.Header
        var arguments: Range<Int>
    }

    static func scan(_ bytes: [UInt8]) throws(JobFailure) -> Result {
        var scanner = EnvelopeScanner(bytes: bytes)
        return try scanner.envelope()
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private mutating func envelope() throws(JobFailure) -> Result {
        var id: String?, kind: String?, queue: String?, tenant: String?, trace: String?
        var attempt: Int64?, maxAttempts: Int64?, enqueuedAt: Int64?, dueAt: Int64?, crashes: Int64?
        var arguments: Range<Int>?
        skipSpace()
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if peek == UInt8(ascii: "}") { throw fail("empty object") }
        while true {
            skipSpace()
            let key = try string()
            skipSpace()
            try expect(UInt8(ascii: ":"))
            skipSpace()
            switch key {
            case "id": id = try optionalString()
            case "kind": kind = try optionalString()
            case "queue": queue = try optionalString()
            case "tenant": tenant = try optionalString()
            case "trace": trace = try optionalString()
            case "attempt": attempt = try optionalInt(key)
            case "max_attempts": maxAttempts = try optionalInt(key)
            case "enqueued_at": enqueuedAt = try optionalInt(key)
            case "due_at": dueAt = try optionalInt(key)
            case "crashes": crashes = try optionalInt(key)
            case "args":
                let start = i
                try skipValue()
                arguments = start..<i
            default: try skipValue()
            }
            skipSpace()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            try expect(UInt8(ascii: "}"))
            break
        }
        guard let id else { throw fail("missing field 'id'") }
        guard let kind else { throw fail("missing field 'kind'") }
        guard let queue else { throw fail("missing field 'queue'") }
        guard let attempt else { throw fail("missing field 'attempt'") }
        guard let maxAttempts else { throw fail("missing field 'max_attempts'") }
        guard let enqueuedAt else { throw fail("missing field 'enqueued_at'") }
        guard let arguments else { throw fail("missing field 'args'") }
        let header = JobEnvelope.Header(id: id, kind: kind, queue: queue, tenant: tenant, attempt: Int(attempt),
                                        maxAttempts: Int(maxAttempts), enqueuedAt: enqueuedAt, dueAt: dueAt, trace: trace,
                                        crashes: crashes.map { Int($0) })
        return Result(header: header, arguments: arguments)
    }

    // MARK: Tokens

    private var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    private func fail(_ why: String) -> JobFailure { .poison("envelope is not a valid job: \(why)") }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0a || bytes[i] == 0x0d || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(JobFailure) {
        guard peek == byte else {
            throw fail(i < bytes.count ? "unexpected '\(Character(UnicodeScalar(bytes[i])))' at byte \(i)" : "not valid JSON (ends early)")
        }
        i += 1
    }

    private mutating func optionalString() throws(JobFailure) -> String? {
        if matchNull() { return nil }
        return try string()
    }

    private mutating func optionalInt(_ key: String) throws(JobFailure) -> Int64? {
        if matchNull() { return nil }
        let start = i
        if peek == UInt8(ascii: "-") { i += 1 }
        while let b = peek, (0x30...0x39).contains(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "e")
                || b == UInt8(ascii: "E") || b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { i += 1 }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if let n = Int64(text) { return n }
        if let d = Double(text), d.rounded() == d, abs(d) < 9e18 { return Int64(d) }
        throw fail("field '\(key)' is not an integer")
    }

    private mutating func matchNull() -> Bool {
        guard i + 4 <= bytes.count, bytes[i] == UInt8(ascii: "n"), bytes[i + 1] == UInt8(ascii: "u"),
              bytes[i + 2] == UInt8(ascii: "l"), bytes[i + 3] == UInt8(ascii: "l") else { return false }
        i += 4
        return true
    }

    /// A JSON string, escapes resolved.
    private mutating func string() throws(JobFailure) -> String {
        try expect(UInt8(ascii: "\""))
        let start = i
        while let b = peek, b != UInt8(ascii: "\""), b != UInt8(ascii: "\\") { i += 1 }
        if peek == UInt8(ascii: "\"") {
            defer { i += 1 }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }
        var out = Array(bytes[start..<i])
        while true {
            guard let b = peek else { throw fail("unterminated string") }
            i += 1
            if b == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if b != UInt8(ascii: "\\") { out.append(b); continue }
            guard let e = peek else { throw fail("unterminated string") }
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xd800..<0xdc00).contains(scalar), peek == UInt8(ascii: "\\") {
                    i += 2   // "\u" of the low surrogate
                    let low = try hex4()
                    scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                }
                out.append(contentsOf: String(Character(UnicodeScalar(scalar) ?? "\u{fffd}")).utf8)
            default: out.append(e)   // \" \\ \/
            }
        }
    }

    private mutating func hex4() throws(JobFailure) -> UInt32 {
        guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
            throw fail("bad \\u escape")
        }
        i += 4
        return v
    }

    /// Skips one value of any kind (nested objects and arrays, strings with escapes).
    private mutating func skipValue() throws(JobFailure) {
        guard let first = peek else { throw fail("not valid JSON (ends early)") }
        if first == UInt8(ascii: "\"") { _ = try string(); return }
        if first != UInt8(ascii: "{") && first != UInt8(ascii: "[") {
            let start = i
            while let b = peek, b != UInt8(ascii: ","), b != UInt8(ascii: "}"), b != UInt8(ascii: "]"),
                  b != 0x20, b != 0x0a, b != 0x0d, b != 0x09 { i += 1 }
            if i == start { throw fail("unexpected '\(Character(UnicodeScalar(first)))' at byte \(i)") }
            return
        }
        var depth = 0
        while let b = peek {
            switch b {
            case UInt8(ascii: "\""): _ = try string(); continue
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { i += 1; return }
            default: break
            }
            i += 1
        }
        throw fail("not valid JSON (ends early)")
    }
}
