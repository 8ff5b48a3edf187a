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

/// The job of one source's events: it looks the event up in the dispatch table and runs the
/// handler registered for its type; a type without one is ignored (logged, counted).
public protocol WebhookEventJob: JobHandler where Arguments == WebhookEventArguments {
    static var source: String { get }
    var dispatch: WebhookDispatch { get }
}

extension WebhookEventJob {
    public static var kind: String { "webhook.\(source)" }
    public static var options: JobOptions {
        JobOptions(queue: "webhooks", retry: .exponentialJitter(maxAttempts: 10), timeout: .seconds(30))
    }

    public func run(_ event: WebhookEventArguments, context: JobContext) async throws {
        let outcome: WebhookOutcome
        if let handler = dispatch.handler(source: Self.source, type: event.type) {
            outcome = try await handler.handle(event, context: context)
        } else {
            outcome = .ignored
        }
        context.logger.info("webhook event \(outcome.rawValue)", metadata: [
            "job_id": "\(context.jobID)", "source": "\(event.source)", "event_id": "\(event.eventID)",
            "type": "\(event.type)", "tenant": "\(context.tenant ?? "-")", "trace": "\(context.trace ?? "-")",
        ])
    }
}

public struct StripeWebhookJob: WebhookEventJob {
    public static let source = "stripe"
    public let dispatch: WebhookDispatch
    public init(dispatch: WebhookDispatch = WebhookDispatch()) { self.dispatch = dispatch }
}

public struct MedusaWebhookJob: WebhookEventJob {
    public static let source = "medusa"
    public let dispatch: WebhookDispatch
    public init(dispatch: WebhookDispatch = WebhookDispatch()) { self.dispatch = dispatch }
}

public struct PayloadWebhookJob: WebhookEventJob {
    public static let source = "payload"
    public let dispatch: WebhookDispatch
    public init(dispatch: WebhookDispatch = WebhookDispatch()) { self.dispatch = dispatch }
}

public struct FleetbaseWebhookJob: WebhookEventJob {
    public static let source = "fleetbase"
    public let dispatch: WebhookDispatch
    public init(dispatch: WebhookDispatch = WebhookDispatch()) { self.dispatch = dispatch }
}

public struct ERPNextWebhookJob: WebhookEventJob {
    public static let source = "erpnext"
    public let dispatch: WebhookDispatch
    public init(dispatch: WebhookDispatch = WebhookDispatch()) { self.dispatch = dispatch }
}
