/// Checks that a body is one JSON object (RFC 8259, UTF-8) and picks out the string or number
/// values at a few paths (`id`, `type`, `data.object.metadata.tenant_id`, …) in one pass over
/// the bytes. It builds no document: the ingress stores the verified body as it came, so all it
/// needs is "is this JSON?" and a handful of fields — at a fraction of JSONDecoder's cost, on
/// the path every webhook takes.
struct JSONFieldScanner {
    struct Invalid: Error {
        let reason: String
    }

    /// Paths as keys from the top, e.g. `["data", "object", "metadata", "tenant_id"]` (at most 15).
    let paths: [[[UInt8]]]
    static let maxDepth = 256

    init(paths: [[String]]) {
        precondition(paths.count <= 15, "at most 15 paths")   // a programming error, fixed at compile time
        self.paths = paths.map { $0.map { Array($0.utf8) } }
    }

    /// The values found, by path index; a value that is not a string or number is absent.
    /// - Throws: `Invalid` unless `bytes` is exactly one JSON object (whitespace around it allowed).
    func scan(_ bytes: UnsafeRawBufferPointer) throws(Invalid) -> [Int: String] {
        var parser = Parser(bytes: bytes, paths: paths)
        parser.skipWhitespace()
        guard parser.peek == UInt8(ascii: "{") else { throw Invalid(reason: "the body must be a JSON object") }
        try parser.value(depth: 0, mask: UInt16(truncatingIfNeeded: (1 << paths.count) - 1))
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw Invalid(reason: "text after the JSON object") }
        return parser.found
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        let paths: [[[UInt8]]]
        var index = 0
        var found: [Int: String] = [:]
        /// By depth, the paths whose key at that depth was met: a key on a path met twice (the
        /// same object's key repeated) is refused, since JSONDecoder, which the job reads the body
        /// with, would keep the first where this keeps the last.
        var seen: [UInt16] = []

        init(bytes: UnsafeRawBufferPointer, paths: [[[UInt8]]]) {
            self.bytes = bytes
            self.paths = paths
        }

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0a, 0x0d: index += 1
                default: return
                }
            }
        }

        /// Parses one value. `mask`: the paths whose first `depth` keys match where we are.
        mutating func value(depth: Int, mask: UInt16, complete: UInt16 = 0) throws(Invalid) {
            guard depth <= JSONFieldScanner.maxDepth else { throw Invalid(reason: "nested deeper than \(JSONFieldScanner.maxDepth)") }
            guard let byte = peek else { throw Invalid(reason: "unexpected end") }
            switch byte {
            case UInt8(ascii: "{"): try object(depth: depth, mask: mask)
            case UInt8(ascii: "["): try array(depth: depth)
            case UInt8(ascii: "\""):
                let text = try string(decode: complete != 0)
                if let text { record(text, complete) }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = index
                try number()
                if complete != 0 { record(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self), complete) }
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: throw Invalid(reason: "unexpected character at byte \(index)")
            }
        }

        mutating func record(_ text: String, _ complete: UInt16) {
            for path in paths.indices where complete & (1 << path) != 0 { found[path] = text }
        }

        mutating func object(depth: Int, mask: UInt16) throws(Invalid) {
            index += 1
            skipWhitespace()
            if peek == UInt8(ascii: "}") { index += 1; return }
            while true {
                guard peek == UInt8(ascii: "\"") else { throw Invalid(reason: "expected a key at byte \(index)") }
                var childMask: UInt16 = 0
                var complete: UInt16 = 0
                if mask != 0 {
                    let keyStart = index + 1
                    let key = try string(decode: false, keepRaw: true)
                    let raw = UnsafeRawBufferPointer(rebasing: bytes[keyStart..<(index - 1)])
                    for path in paths.indices where mask & (1 << path) != 0 && paths[path].count > depth {
                        let matches = key.map { $0.utf8.elementsEqual(paths[path][depth]) } ?? raw.elementsEqual(paths[path][depth])
                        guard matches else { continue }
                        if paths[path].count == depth + 1 { complete |= 1 << path } else { childMask |= 1 << path }
                    }
                    if complete | childMask != 0 {
                        if seen.count <= depth { seen += repeatElement(0, count: depth + 1 - seen.count) }
                        guard seen[depth] & (complete | childMask) == 0 else {
                            throw Invalid(reason: "the key before byte \(index) appears twice in its object")
                        }
                        seen[depth] |= complete | childMask
                    }
                } else {
                    _ = try string(decode: false)
                }
                skipWhitespace()
                guard peek == UInt8(ascii: ":") else { throw Invalid(reason: "expected ':' at byte \(index)") }
                index += 1
                skipWhitespace()
                try value(depth: depth + 1, mask: childMask, complete: complete)
                skipWhitespace()
                guard let next = peek else { throw Invalid(reason: "unexpected end in an object") }
                index += 1
                if next == UInt8(ascii: "}") { return }
                guard next == UInt8(ascii: ",") else { throw Invalid(reason: "expected ',' or '}' at byte \(index - 1)") }
                skipWhitespace()
            }
        }

        mutating func array(depth: Int) throws(Invalid) {
            index += 1
            skipWhitespace()
            if peek == UInt8(ascii: "]") { index += 1; return }
            while true {
                try value(depth: depth + 1, mask: 0)
                skipWhitespace()
                guard let next = peek else { throw Invalid(reason: "unexpected end in an array") }
                index += 1
                if next == UInt8(ascii: "]") { return }
                guard next == UInt8(ascii: ",") else { throw Invalid(reason: "expected ',' or ']' at byte \(index - 1)") }
                skipWhitespace()
            }
        }

        /// Checks a string; returns its decoded text when `decode` is set, or when `keepRaw` is
        /// set and the string has escapes (so a key can be compared decoded).
        mutating func string(decode: Bool, keepRaw: Bool = false) throws(Invalid) -> String? {
            index += 1
            var decoded: [UInt8]? = decode ? [] : nil
            let start = index
            while true {
                if decoded == nil { skipPlainBytes() }
                guard index < bytes.count else { throw Invalid(reason: "unterminated string") }
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return decoded.map { String(decoding: $0, as: UTF8.self) }
                case UInt8(ascii: "\\"):
                    if decoded == nil, keepRaw {
                        decoded = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
                    }
                    try escape(into: &decoded)
                case 0..<0x20:
                    throw Invalid(reason: "control character in a string at byte \(index)")
                case 0x80...:
                    let length = try utf8Sequence()
                    decoded?.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + length)]))
                    index += length
                default:
                    decoded?.append(byte)
                    index += 1
                }
            }
        }

        /// Steps over string bytes that need no attention (printable ASCII other than `"` and
        /// `\`) eight at a time: most of a webhook's body is such text. It stops at or before the
        /// first byte that needs a look, which the byte-wise loop then takes.
        mutating func skipPlainBytes() {
            guard let base = bytes.baseAddress else { return }
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            while index + 8 <= bytes.count {
                let word = (base + index).loadUnaligned(as: UInt64.self)
                // Each test sets a byte's high bit if that byte (or, harmlessly, a later one) is a hit.
                let quotes = word ^ (0x22 &* ones)
                let backslashes = word ^ (0x5C &* ones)
                let control = (word &- (0x20 &* ones)) & ~word & highs
                let quote = (quotes &- ones) & ~quotes & highs
                let backslash = (backslashes &- ones) & ~backslashes & highs
                if (word & highs) | control | quote | backslash != 0 { return }
                index += 8
            }
        }

        mutating func escape(into decoded: inout [UInt8]?) throws(Invalid) {
            guard index + 1 < bytes.count else { throw Invalid(reason: "unterminated escape") }
            let kind = bytes[index + 1]
            index += 2
            let simple: UInt8?
            switch kind {
            case UInt8(ascii: "\""): simple = 0x22
            case UInt8(ascii: "\\"): simple = 0x5c
            case UInt8(ascii: "/"): simple = 0x2f
            case UInt8(ascii: "b"): simple = 0x08
            case UInt8(ascii: "f"): simple = 0x0c
            case UInt8(ascii: "n"): simple = 0x0a
            case UInt8(ascii: "r"): simple = 0x0d
            case UInt8(ascii: "t"): simple = 0x09
            case UInt8(ascii: "u"): simple = nil
            default: throw Invalid(reason: "bad escape at byte \(index - 2)")
            }
            if let simple { decoded?.append(simple); return }
            var scalar = try hex4()
            if (0xD800...0xDBFF).contains(scalar) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    throw Invalid(reason: "unpaired surrogate at byte \(index)")
                }
                index += 2
                let low = try hex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw Invalid(reason: "unpaired surrogate at byte \(index)") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                throw Invalid(reason: "unpaired surrogate at byte \(index)")
            } else if scalar == 0 {
                // Valid JSON, but the event is kept in PostgreSQL (the inbox's jsonb and text
                // columns), which cannot hold a NUL: accepted, the event could never be handled.
                throw Invalid(reason: "\\u0000 at byte \(index - 6): a NUL character cannot be stored")
            }
            if decoded != nil, let unicode = Unicode.Scalar(scalar) {
                decoded?.append(contentsOf: Array(String(Character(unicode)).utf8))
            }
        }

        mutating func hex4() throws(Invalid) -> UInt32 {
            guard index + 4 <= bytes.count else { throw Invalid(reason: "short \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[index]
                let digit: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
                default: throw Invalid(reason: "bad \\u escape at byte \(index)")
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }

        /// The length of the valid UTF-8 sequence starting at `index` (a non-ASCII lead byte).
        func utf8Sequence() throws(Invalid) -> Int {
            let lead = bytes[index]
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: throw Invalid(reason: "invalid UTF-8 at byte \(index)")
            }
            guard index + length <= bytes.count else { throw Invalid(reason: "truncated UTF-8 at byte \(index)") }
            for offset in 1..<length {
                let byte = bytes[index + offset]
                let (min, max): (UInt8, UInt8) = offset == 1 ? (low, high) : (0x80, 0xBF)
                guard byte >= min && byte <= max else { throw Invalid(reason: "invalid UTF-8 at byte \(index)") }
            }
            return length
        }

        mutating func number() throws(Invalid) {
            let start = index
            if peek == UInt8(ascii: "-") { index += 1 }
            guard let first = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
                throw Invalid(reason: "bad number at byte \(index)")
            }
            index += 1
            let integerDigits = first == UInt8(ascii: "0") ? 1 : 1 + digits()
            var fractionDigits = 0
            if peek == UInt8(ascii: ".") {
                index += 1
                fractionDigits = digits()
                guard fractionDigits > 0 else { throw Invalid(reason: "bad fraction at byte \(index)") }
            }
            var exponent = false
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                index += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { throw Invalid(reason: "bad exponent at byte \(index)") }
                exponent = true
            }
            // Only an exponent or some 300 digits can leave a Double's range: 300 integer digits
            // can overflow it, and a fraction of over 300 digits underflow it (0.000…01 below
            // 1e-323 reads as zero); 1e-300, the smallest 300 fraction digits can write, is a Double.
            if exponent || integerDigits > 300 || fractionDigits > 300 { try representable(from: start) }
        }

        /// The job's arguments are read by JSONDecoder, which refuses a number a Double cannot
        /// hold: one that overflows (`1e400`) or underflows to zero without being zero
        /// (`1e-400`). Accepted, such an event would be answered 202 and die unread.
        func representable(from start: Int) throws(Invalid) {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let value = Double(text), value.isFinite else {
                throw Invalid(reason: "number out of range at byte \(start)")
            }
            if value == 0, text.prefix(while: { $0 != "e" && $0 != "E" }).contains(where: { ("1"..."9").contains($0) }) {
                throw Invalid(reason: "number out of range at byte \(start)")
            }
        }

        @discardableResult
        mutating func digits() -> Int {
            let start = index
            while let c = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { index += 1 }
            return index - start
        }

        mutating func literal(_ word: StaticString) throws(Invalid) {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw Invalid(reason: "unexpected end") }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
                throw Invalid(reason: "unexpected character at byte \(index + offset)")
            }
            index += count
        }
    }
}
