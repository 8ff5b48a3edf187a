import Foundation
import Hummingbird
import Queue

/// Small JSON helpers for the hot path and for answers: escaping strings by hand, and encoding
/// `Encodable` answers with the keys sorted.
enum JSONText {
    /// Appends `value` as a JSON string literal (quotes included): the platform's one rule.
    static func appendString(_ value: String, to out: inout [UInt8]) {
        JSONString.append(value, to: &out)
    }

    static func appendString(_ value: Substring, to out: inout [UInt8]) {
        JSONString.append(value, to: &out)
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// A JSON answer with `status`.
    /// A response whose body is JSON someone else already encoded.
    static func response(json bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
