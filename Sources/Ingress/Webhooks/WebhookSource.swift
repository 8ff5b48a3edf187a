import HTTPTypes
import Hummingbird

/// The systems that post events to `POST /webhooks/{source}`, each with its signing scheme.
/// Their secrets come from `CITYOS_WEBHOOK_SECRET_<SOURCE>`. See docs/webhooks.md.
public enum WebhookSource: String, CaseIterable, Sendable {
    case stripe, medusa, payload, fleetbase, erpnext

    /// Signatures older (or newer) than this are refused: Stripe's default tolerance.
    static let tolerance: Int64 = 300

    var scheme: SignatureScheme {
        switch self {
        case .stripe: return .timestamped(header: .stripeSignature, tolerance: Self.tolerance)
        case .medusa, .payload: return .timestamped(header: .cityOSSignature, tolerance: Self.tolerance)
        case .fleetbase: return .hexBody(header: .fleetbaseSignature)
        case .erpnext: return .base64Body(header: .frappeSignature)
        }
    }

    /// The job kind that carries this source's events (registered in Jobs/Webhooks).
    public var jobKind: String { "webhook.\(rawValue)" }

    /// The queue every webhook job goes to.
    public static let queue = "webhooks"
}

extension HTTPField.Name {
    static let stripeSignature = HTTPField.Name("Stripe-Signature")!
    /// The platform's scheme, used by Medusa subscribers and Payload hooks (Stripe's form).
    static let cityOSSignature = HTTPField.Name("CityOS-Signature")!
    static let fleetbaseSignature = HTTPField.Name("Signature")!
    static let frappeSignature = HTTPField.Name("X-Frappe-Webhook-Signature")!
    static let traceparent = HTTPField.Name("traceparent")!
    /// The id of the job a request created or found, for the request log line.
    static let cityOSJobID = HTTPField.Name("CityOS-Job-Id")!
}
