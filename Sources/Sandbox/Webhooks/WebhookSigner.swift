import Crypto
import Foundation

/// Signs a webhook body the way each source does (docs/webhooks.md):
/// - Stripe: `Stripe-Signature: t=<unix>,v1=hex(HMAC-SHA256(secret, "<t>.<body>"))`
/// - Medusa, Payload (the platform scheme): `CityOS-Signature`, the same form as Stripe's
/// - Fleetbase: `Signature: hex(HMAC-SHA256(secret, body))`
/// - ERPNext: `X-Frappe-Webhook-Signature: base64(HMAC-SHA256(secret, body))`
enum WebhookSigner {
    static func header(for source: SandboxService, body: Data, secret: String,
                       timestamp: Int = Int(Date().timeIntervalSince1970)) -> (name: String, value: String) {
        switch source {
        case .stripe:
            return ("Stripe-Signature", timestamped(body: body, secret: secret, timestamp: timestamp))
        case .medusa, .payload:
            return ("CityOS-Signature", timestamped(body: body, secret: secret, timestamp: timestamp))
        case .fleetbase:
            return ("Signature", hex(mac(body, secret: secret)))
        case .erpnext:
            return ("X-Frappe-Webhook-Signature", Data(mac(body, secret: secret)).base64EncodedString())
        }
    }

    private static func timestamped(body: Data, secret: String, timestamp: Int) -> String {
        var signed = Data("\(timestamp).".utf8)
        signed.append(body)
        return "t=\(timestamp),v1=\(hex(mac(signed, secret: secret)))"
    }

    private static func mac(_ data: Data, secret: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: Data(secret.utf8))))
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { byte in byte < 16 ? "0" + String(byte, radix: 16) : String(byte, radix: 16) }.joined()
    }
}
