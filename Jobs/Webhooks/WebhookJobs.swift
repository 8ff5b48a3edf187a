import Queue

/// What the ingress enqueues for every verified webhook: the event as it arrived, once per
/// (source, event id). Kind `webhook.<source>` on queue `webhooks`.
public struct WebhookEventArguments: Codable, Sendable {
    /// `stripe`, `medusa`, `payload`, `fleetbase` or `erpnext`.
    public var source: String
    public var eventID: String
    /// The event's type, e.g. `payment_intent.succeeded`, `product.created`, `order.completed`.
    public var type: String
    /// The verified body, parsed.
    public var payload: JSONValue
    /// When the ingress accepted it (ms since the epoch).
    public var receivedAt: Int64

    enum CodingKeys: String, CodingKey {
        case source, type, payload
        case eventID = "event_id"
        case receivedAt = "received_at"
    }

    public init(source: String, eventID: String, type: String, payload: JSONValue, receivedAt: Int64) {
        self.source = source
        self.eventID = eventID
        self.type = type
        self.payload = payload
        self.receivedAt = receivedAt
    }
}

/// The handlers of one source's events. For now every event is recorded as received (logged)
/// and succeeds; dispatching by type to the sync, payment and payout families comes later.
public protocol WebhookEventJob: JobHandler where Arguments == WebhookEventArguments {
    static var source: String { get }
}

extension WebhookEventJob {
    public static var kind: String { "webhook.\(source)" }
    public static var options: JobOptions {
        JobOptions(queue: "webhooks", retry: .exponentialJitter(maxAttempts: 10), timeout: .seconds(30))
    }

    public func run(_ event: WebhookEventArguments, context: JobContext) async throws {
        context.logger.info("webhook event received", metadata: [
            "job_id": "\(context.jobID)", "source": "\(event.source)", "event_id": "\(event.eventID)",
            "type": "\(event.type)", "tenant": "\(context.tenant ?? "-")", "trace": "\(context.trace ?? "-")",
        ])
    }
}

public struct StripeWebhookJob: WebhookEventJob {
    public static let source = "stripe"
    public init() {}
}

public struct MedusaWebhookJob: WebhookEventJob {
    public static let source = "medusa"
    public init() {}
}

public struct PayloadWebhookJob: WebhookEventJob {
    public static let source = "payload"
    public init() {}
}

public struct FleetbaseWebhookJob: WebhookEventJob {
    public static let source = "fleetbase"
    public init() {}
}

public struct ERPNextWebhookJob: WebhookEventJob {
    public static let source = "erpnext"
    public init() {}
}
