import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// How a webhook source signs its deliveries. Each check runs over the raw body, before the
/// body is parsed, and compares in constant time.
enum SignatureScheme: Sendable {
    /// Stripe's scheme, also the platform's (Medusa, Payload): `Name: t=<unix>,v1=<hex>[,v1=…]`,
    /// hex HMAC-SHA256 of `"<t>.<raw body>"`; any `v1` may match (secret rotation); `t` must be
    /// within `tolerance` seconds of now.
    case timestamped(header: HTTPField.Name, tolerance: Int64)
    /// Fleetbase: hex HMAC-SHA256 of the raw body in the header.
    case hexBody(header: HTTPField.Name)
    /// ERPNext (Frappe): base64 HMAC-SHA256 of the raw body in the header.
    case base64Body(header: HTTPField.Name)

    var headerName: HTTPField.Name {
        switch self {
        case .timestamped(let header, _), .hexBody(let header), .base64Body(let header): return header
        }
    }

    /// Throws `APIError` (400) unless `signature` (the `headerName` header's value) signs `body`
    /// with `secret`.
    func verify(signature: String?, body: ByteBuffer, secret: SigningKey, now: Int64) throws(APIError) {
        guard let value = signature, !value.isEmpty else {
            throw .badSignature("missing \(headerName.canonicalName) header")
        }
        switch self {
        case .timestamped(_, let tolerance):
            let parsed = try TimestampedSignature(parsing: value)
            if parsed.timestamp < now - tolerance || parsed.timestamp > now + tolerance {
                throw .staleTimestamp("the signature's timestamp is more than \(tolerance) s from now")
            }
            let expected = secret.mac { hash in
                Self.withDecimal(parsed.timestamp, then: UInt8(ascii: ".")) { hash.update(bufferPointer: $0) }
                body.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
            }
            let matches = expected.withUnsafeBytes { mac in
                parsed.signatures.contains { ConstantTime.equal($0, mac) }
            }
            guard matches else { throw .badSignature("no v1 signature matches") }
        case .hexBody:
            guard let given = Hex.decode(value) else { throw .badSignature("the signature is not hex") }
            try Self.check(given, body: body, secret: secret)
        case .base64Body:
            guard let given = Data(base64Encoded: value.trimmingCharacters(in: .whitespaces)) else {
                throw .badSignature("the signature is not base64")
            }
            try Self.check(Array(given), body: body, secret: secret)
        }
    }

    private static func check(_ given: [UInt8], body: ByteBuffer, secret: SigningKey) throws(APIError) {
        let expected = secret.mac { hash in body.withUnsafeReadableBytes { hash.update(bufferPointer: $0) } }
        guard expected.withUnsafeBytes({ ConstantTime.equal(given, $0) }) else {
            throw .badSignature("the signature does not match")
        }
    }

    /// `value`'s decimal digits followed by `suffix`, as bytes, without allocating.
    static func withDecimal<R>(_ value: Int64, then suffix: UInt8, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 21) { buffer in
            var digits = value.magnitude
            var start = 20
            buffer[20] = suffix
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(digits % 10)
                digits /= 10
            } while digits > 0
            if value < 0 {
                start -= 1
                buffer[start] = UInt8(ascii: "-")
            }
            return body(UnsafeRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[start...])))
        }
    }
}

/// A source's signing secret, keyed once: HMAC-SHA256 (RFC 2104) with the key's two padded blocks
/// hashed here rather than for every delivery; each check starts from copies of the two hash
/// states and feeds them raw bytes (swift-crypto's `HMAC.update` takes any `DataProtocol`, which
/// its generic code pays for on every call: measured, most of a delivery's check).
struct SigningKey: @unchecked Sendable {   // SHA256 is a value of plain hash state; swift-crypto does not mark it Sendable
    /// SHA-256 after the key XOR ipad (0x36…), and after the key XOR opad (0x5c…).
    private let inner: SHA256
    private let outer: SHA256

    init(secret: [UInt8]) {
        let blockSize = SHA256.blockByteCount
        var block = secret.count > blockSize ? Array(SHA256.hash(data: secret)) : secret
        block.append(contentsOf: repeatElement(0, count: blockSize - block.count))
        var inner = SHA256()
        var outer = SHA256()
        inner.update(data: block.map { $0 ^ 0x36 })
        outer.update(data: block.map { $0 ^ 0x5c })
        self.inner = inner
        self.outer = outer
    }

    /// HMAC-SHA256 of the bytes `feed` gives the hash.
    func mac(_ feed: (inout SHA256) -> Void) -> SHA256Digest {
        var hash = inner
        feed(&hash)
        let innerDigest = hash.finalize()
        var result = outer
        innerDigest.withUnsafeBytes { result.update(bufferPointer: $0) }
        return result.finalize()
    }
}

/// `t=<unix>,v1=<hex>,v1=<hex>,v0=…`: other schemes are ignored; no `t` or no `v1` fails.
/// Parsed on bytes: it runs for every delivery.
public struct TimestampedSignature {
    var timestamp: Int64
    var signatures: [[UInt8]]

    init(parsing header: String) throws(APIError) {
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        let bytes = Array(header.utf8)
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.count
            let item = Self.trimmed(bytes[start..<end])
            start = end + 1
            guard let equals = item.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = Self.trimmed(item[..<equals])
            let value = Self.trimmed(item[(equals + 1)...])
            if key.elementsEqual("t".utf8) {
                timestamp = Self.integer(value)
            } else if key.elementsEqual("v1".utf8), let signature = Hex.decode(bytes: value) {
                signatures.append(signature)
            }
        }
        guard let timestamp else { throw .badSignature("the signature header has no timestamp (t=)") }
        guard !signatures.isEmpty else { throw .badSignature("the signature header has no v1 signature") }
        self.timestamp = timestamp
        self.signatures = signatures
    }

    private static func trimmed(_ slice: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = slice
        while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice = slice.dropLast() }
        return slice
    }

    /// Decimal digits only, at most 18 of them (no sign, no overflow).
    private static func integer(_ digits: ArraySlice<UInt8>) -> Int64? {
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value: Int64 = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
            value = value * 10 + Int64(digit - UInt8(ascii: "0"))
        }
        return value
    }

    /// The header value for `body` signed with `secret` at `timestamp` (for docs, tools and tests).
    public static func header(body: [UInt8], secret: [UInt8], timestamp: Int64) -> String {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: secret))
        mac.update(data: Array("\(timestamp).".utf8))
        mac.update(data: body)
        return "t=\(timestamp),v1=\(Hex.encode(Array(mac.finalize())))"
    }
}

enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        decode(bytes: Array(text.utf8)[...])
    }

    static func decode(bytes chars: ArraySlice<UInt8>) -> [UInt8]? {
        let count = chars.count / 2
        guard chars.count % 2 == 0, count > 0 else { return nil }
        return chars.withUnsafeBufferPointer { source -> [UInt8]? in
            var valid = true
            let out = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                var i = 0
                while i < count {
                    let high = nibble(source[2 * i]), low = nibble(source[2 * i + 1])
                    if (high | low) > 0x0f { valid = false; break }
                    buffer[i] = high << 4 | low
                    i += 1
                }
                initialized = i
            }
            return valid ? out : nil
        }
    }

    /// The digit's value, or 0xff for a byte that is not a hex digit. Without branches on the
    /// digit (selects, not jumps): a signature's digits and letters come in no order a branch
    /// predictor could learn, and mispredicted branches were most of a decode's time.
    @inline(__always)
    private static func nibble(_ c: UInt8) -> UInt8 {
        let digit = c &- UInt8(ascii: "0")                    // 0...9 for "0"..."9"
        let letter = (c | 0x20) &- UInt8(ascii: "a")          // 0...5 for "a"..."f" and "A"..."F"
        let asLetter = letter < 6 ? letter &+ 10 : 0xff
        return digit < 10 ? digit : asLetter
    }
}

enum ConstantTime {
    /// Compares without stopping at the first difference. Lengths are not secret here
    /// (a SHA-256 MAC is always 32 bytes), so unequal lengths answer at once.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        b.withUnsafeBytes { equal(a, $0) }
    }

    static func equal(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    /// Compares two secrets of any length without revealing either's length or content:
    /// both are hashed first, then the digests compared.
    static func equalSecrets(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
        equal(Array(SHA256.hash(data: Array(a.utf8))), Array(SHA256.hash(data: Array(b.utf8))))
    }
}
