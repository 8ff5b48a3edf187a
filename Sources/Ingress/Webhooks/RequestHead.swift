/// One HTTP/1.1 request head, read from the connection's raw bytes by the webhook fast path
/// (`WebhookFastPath`) before NIO's HTTP decoder sees them.
///
/// The reading is deliberately strict, so that the fast path and the decoder can never disagree
/// about where a request ends (which is how requests are smuggled past a proxy): a head is only
/// accepted if every HTTP/1.1 parser reads it the same way — `HTTP/1.1` only, CRLF line ends,
/// a common method, an origin-form target, token field names, visible ASCII only, no obs-fold,
/// at most one `Content-Length` of plain digits, and no `Transfer-Encoding`, `Upgrade` or
/// `Expect`. Anything else is `unsupported`, and the fast path hands the rest of the connection
/// to the decoder as it is. `RequestHeadTests` checks the agreement against NIO's decoder.
struct RequestHead: Equatable {
    /// Bytes from the request line through the empty line that ends the header fields.
    var length = 0
    /// The body's length: `Content-Length`, 0 without one.
    var bodyLength = 0
    /// `POST /webhooks/<source>` (a query aside) for a source we know.
    var webhook: WebhookSource?
    /// `Connection: close`: the sender wants the connection closed after the answer.
    var closes = false
    /// Where the webhook source's signature header's value is (from the head's first byte),
    /// without surrounding whitespace.
    var signature: Range<Int>?
    /// Where the `traceparent` header's value is.
    var traceparent: Range<Int>?
    /// A header the fast path reads appears more than once, or ends in whitespace: left to the
    /// router, which combines and trims values its own way.
    var unusualField = false

    /// Heads longer than this are left to the decoder (its own limit is larger).
    static let maxLength = 16 * 1024
    static let maxFields = 100
    /// Content-Length digits: up to 999 TB, and no overflow.
    static let maxLengthDigits = 15

    /// What the bytes received so far are.
    enum Scan: Equatable {
        /// Nothing wrong so far; the head is not complete yet.
        case incomplete
        /// Not a head this reader takes (see the type's comment): the decoder's business.
        case unsupported
        case complete(RequestHead)
    }

    /// Reads a head incrementally: each `scan` resumes after the last complete line, so a head
    /// that arrives a few bytes at a time is still read once. One scanner per request.
    struct Scanner {
        private var head = RequestHead()
        /// Where the next line to read starts.
        private var position = 0
        private var fields = 0
        private var sawLength = false
        /// Bytes up to here have been searched for the next LF.
        private var searched = 0

        /// Reads `bytes` (the request's bytes from its first one; more of them on each call).
        mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Scan {
            while true {
                guard let lineEnd = nextLineEnd(in: bytes) else {
                    return bytes.count > RequestHead.maxLength ? .unsupported : .incomplete
                }
                guard lineEnd >= 0, lineEnd + 2 <= RequestHead.maxLength else { return .unsupported }   // bare LF, or too long
                let line = UnsafeRawBufferPointer(rebasing: bytes[position..<lineEnd])
                let start = position
                position = lineEnd + 2
                if start == 0 {
                    guard readRequestLine(line) else { return .unsupported }
                } else if line.isEmpty {
                    head.length = position
                    return .complete(head)
                } else {
                    fields += 1
                    guard fields <= RequestHead.maxFields, readField(line, at: start) else { return .unsupported }
                }
            }
        }

        /// Where the CR of the next line's CRLF is; -1 for a LF without CR, or for a byte no head
        /// may contain (a control other than HTAB, CR and LF), so that a peer speaking something
        /// else (TLS, say) is handed over at once; nil when no LF has arrived yet. Each byte is
        /// looked at once however the head arrives.
        private mutating func nextLineEnd(in bytes: UnsafeRawBufferPointer) -> Int? {
            var index = max(position, searched)
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\n") {
                    searched = index + 1
                    return index > position && bytes[index - 1] == UInt8(ascii: "\r") ? index - 1 : -1
                }
                if (byte < 0x20 && byte != 0x09 && byte != 0x0D) || byte == 0x7F { return -1 }
                index += 1
            }
            searched = index
            return nil
        }

        /// `POST SP /webhooks/stripe SP HTTP/1.1`: a common method, an origin-form target,
        /// exactly HTTP/1.1.
        private mutating func readRequestLine(_ line: UnsafeRawBufferPointer) -> Bool {
            guard let firstSpace = line.firstIndex(of: 0x20) else { return false }
            let method = UnsafeRawBufferPointer(rebasing: line[..<firstSpace])
            guard Self.methods.contains(where: { method.elementsEqual($0.utf8) }) else { return false }
            let rest = UnsafeRawBufferPointer(rebasing: line[(firstSpace + 1)...])
            guard let secondSpace = rest.firstIndex(of: 0x20) else { return false }
            let target = UnsafeRawBufferPointer(rebasing: rest[..<secondSpace])
            let version = UnsafeRawBufferPointer(rebasing: rest[(secondSpace + 1)...])
            guard target.first == UInt8(ascii: "/"), target.allSatisfy(Self.isTargetByte), version.elementsEqual("HTTP/1.1".utf8) else {
                return false
            }
            if method.elementsEqual("POST".utf8) { head.webhook = Self.webhookSource(target) }
            return true
        }

        /// An origin-form target's characters (RFC 3986: unreserved, sub-delims, `%:@/?`).
        private static func isTargetByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "-._~%!$&'()*+,;=:@/?".utf8.contains(byte)
            }
        }

        /// Methods every HTTP/1.1 parser knows (NIO's refuses ones it does not).
        private static let methods = ["POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]

        /// `/webhooks/<source>` or `/webhooks/<source>?…`.
        private static func webhookSource(_ target: UnsafeRawBufferPointer) -> WebhookSource? {
            let prefix = "/webhooks/".utf8
            guard target.count > prefix.count, target.prefix(prefix.count).elementsEqual(prefix) else { return nil }
            let name = target[prefix.count...].prefix { $0 != UInt8(ascii: "?") }
            return WebhookSource.allCases.first { $0.rawValue.utf8.elementsEqual(name) }
        }

        /// `name: value` — a token name right before the colon, a value of visible ASCII,
        /// spaces and tabs, surrounding whitespace trimmed.
        private mutating func readField(_ line: UnsafeRawBufferPointer, at start: Int) -> Bool {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return false }
            let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
            guard name.allSatisfy(HTTPToken.isTokenByte) else { return false }
            var from = colon + 1
            var upTo = line.count
            while from < upTo, line[from] == 0x20 || line[from] == 0x09 { from += 1 }
            while upTo > from, line[upTo - 1] == 0x20 || line[upTo - 1] == 0x09 { upTo -= 1 }
            let value = UnsafeRawBufferPointer(rebasing: line[from..<upTo])
            guard value.allSatisfy({ ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 }) else { return false }
            return readKnownField(name: name, value: value, range: (start + from)..<(start + upTo), trailingSpace: upTo < line.count)
        }

        /// The fields that change how the request is framed or what the fast path reads.
        private mutating func readKnownField(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                                             range: Range<Int>, trailingSpace: Bool) -> Bool {
            if HTTPToken.equalsLowercased(name, "content-length") {
                guard !sawLength, !trailingSpace, let length = Self.decimal(value) else { return false }
                sawLength = true
                head.bodyLength = length
            } else if HTTPToken.equalsLowercased(name, "transfer-encoding") || HTTPToken.equalsLowercased(name, "upgrade")
                        || HTTPToken.equalsLowercased(name, "expect") {
                return false
            } else if HTTPToken.equalsLowercased(name, "connection") {
                for option in value.split(separator: UInt8(ascii: ",")) {
                    let token = HTTPToken.trimmed(UnsafeRawBufferPointer(rebasing: option))
                    if HTTPToken.equalsLowercased(token, "upgrade") { return false }
                    if HTTPToken.equalsLowercased(token, "close") { head.closes = true }
                }
            } else if HTTPToken.equalsLowercased(name, "traceparent") {
                if head.traceparent != nil || trailingSpace { head.unusualField = true }
                head.traceparent = range
            } else if let source = head.webhook, HTTPToken.equalsLowercased(name, source.signatureFieldName) {
                if head.signature != nil || trailingSpace { head.unusualField = true }
                head.signature = range
            }
            return true
        }

        /// 1 to `maxLengthDigits` ASCII digits, nothing else.
        private static func decimal(_ digits: UnsafeRawBufferPointer) -> Int? {
            guard !digits.isEmpty, digits.count <= RequestHead.maxLengthDigits else { return nil }
            var value = 0
            for digit in digits {
                guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(digit - UInt8(ascii: "0"))
            }
            return value
        }
    }
}

/// RFC 9110's token characters and case-insensitive comparison, on bytes.
enum HTTPToken {
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// `bytes` equals `lowercase` (which is lower-case ASCII) ignoring ASCII case.
    static func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for i in 0..<bytes.count {
            let byte = bytes[i]
            let folded = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            if folded != expected[i] { return false }
        }
        return true
    }

    static func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var from = 0
        var upTo = bytes.count
        while from < upTo, bytes[from] == 0x20 || bytes[from] == 0x09 { from += 1 }
        while upTo > from, bytes[upTo - 1] == 0x20 || bytes[upTo - 1] == 0x09 { upTo -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[from..<upTo])
    }
}

extension WebhookSource {
    /// The signature header's name in lower case, as `RequestHead` compares field names.
    var signatureFieldName: StaticString {
        switch self {
        case .stripe: return "stripe-signature"
        case .medusa, .payload: return "cityos-signature"
        case .fleetbase: return "signature"
        case .erpnext: return "x-frappe-webhook-signature"
        }
    }
}
