import Crypto
import Foundation

/// Signs test deliveries from each source's published scheme, independently of the server's code.
enum Signer {
    static func hmac(_ secret: String, _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8))))
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// Stripe's `Stripe-Signature` (and the platform's `CityOS-Signature`): `t=…,v1=hex(HMAC(t.body))`.
    static func timestamped(_ body: [UInt8], secret: String, at time: Int = Int(Date().timeIntervalSince1970)) -> String {
        "t=\(time),v1=\(hex(hmac(secret, Array("\(time).".utf8) + body)))"
    }

    /// Fleetbase's `Signature`: hex HMAC of the body.
    static func hexBody(_ body: [UInt8], secret: String) -> String { hex(hmac(secret, body)) }

    /// ERPNext's `X-Frappe-Webhook-Signature`: base64 HMAC of the body.
    static func base64Body(_ body: [UInt8], secret: String) -> String { Data(hmac(secret, body)).base64EncodedString() }

    /// A Stripe event of about `size` bytes with a given id.
    static func stripeEvent(id: String, type: String = "payment_intent.succeeded", size: Int = 1024,
                            tenant: String? = nil) -> [UInt8] {
        let metadata = tenant.map { #"{"tenant_id":"\#($0)"}"# } ?? "{}"
        let head = #"{"id":"\#(id)","object":"event","type":"\#(type)","api_version":"2024-06-20","created":1700000000,"livemode":false,"data":{"object":{"id":"pi_3Nx","object":"payment_intent","amount":2000,"currency":"usd","metadata":\#(metadata),"description":""#
        let tail = #""}}}"#
        let padding = String(repeating: "x", count: max(0, size - head.utf8.count - tail.utf8.count))
        return Array((head + padding + tail).utf8)
    }
}
