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
            var mac = secret.keyed
            var signed = Array(String(parsed.timestamp).utf8)
            signed.append(UInt8(ascii: "."))
            signed.withUnsafeBytes { mac.update(data: $0) }
            body.withUnsafeReadableBytes { mac.update(data: $0) }
            let expected = Array(mac.finalize())
            guard parsed.signatures.contains(where: { ConstantTime.equal($0, expected) }) else {
                throw .badSignature("no v1 signature matches")
            }
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
        var mac = secret.keyed
        body.withUnsafeReadableBytes { mac.update(data: $0) }
        guard ConstantTime.equal(given, Array(mac.finalize())) else {
            throw .badSignature("the signature does not match")
        }
    }
}

/// A source's signing secret, keyed once: HMAC's key schedule (padding and two hash blocks) is
/// done here rather than for every delivery, and each check starts from a copy.
struct SigningKey: @unchecked Sendable {   // HMAC<SHA256> is a value of plain hash state; swift-crypto does not mark it Sendable
    let keyed: HMAC<SHA256>

    init(secret: [UInt8]) {
        keyed = HMAC<SHA256>(key: SymmetricKey(data: secret))
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
        guard chars.count % 2 == 0, !chars.isEmpty else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = chars.startIndex
        while i < chars.endIndex {
            guard let high = nibble(chars[i]), let low = nibble(chars[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

enum ConstantTime {
    /// Compares without stopping at the first difference. Lengths are not secret here
    /// (a SHA-256 MAC is always 32 bytes), so unequal lengths answer at once.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
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
