import Foundation
import Logging
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

/// The job of one source's events: it stores the event in the inbox (once per source and event
/// id), looks it up in the dispatch table, runs the handler registered for its type — a type
/// without one is ignored (counted, not an error) — and records the outcome on the inbox row:
/// `processed`, `ignored`, or `failed` with the error (then the job is retried by its policy and
/// dead-lettered with the reason). An event the inbox already holds as processed or ignored is
/// not handled again, whatever job delivers it.
public protocol WebhookEventJob: JobHandler where Arguments == WebhookEventArguments {
    static var source: String { get }
    var dispatch: WebhookDispatch { get }
    /// Where events are recorded; a process without a database handles them unrecorded.
    var inbox: WebhookInbox? { get }
}

extension WebhookEventJob {
    public static var kind: String { "webhook.\(source)" }
    public static var options: JobOptions {
        JobOptions(queue: "webhooks", retry: .exponentialJitter(maxAttempts: 10), timeout: .seconds(30))
    }

    public func run(_ event: WebhookEventArguments, context: JobContext) async throws {
        let tenant = context.tenant.flatMap { UUID(uuidString: $0) }
        var metadata: Logger.Metadata = [
            "job_id": "\(context.jobID)", "source": "\(event.source)", "event_id": "\(event.eventID)",
            "type": "\(event.type)", "tenant": "\(context.tenant ?? "-")", "trace": "\(context.trace ?? "-")",
        ]
        if let inbox, case .settled(let earlier) = try await inbox.open(event, tenant: tenant, logger: context.logger) {
            metadata["outcome"] = "\(earlier.rawValue)"
            context.logger.info("webhook event already settled; not handled again", metadata: metadata)
            return
        }
        let outcome: WebhookOutcome
        do {
            if let handler = dispatch.handler(source: Self.source, type: event.type) {
                outcome = try await handler.handle(event, context: context)
            } else {
                outcome = .ignored
            }
        } catch {
            let reason = JobFailure.reason(for: error)
            if let inbox {
                do { try await inbox.close(event, tenant: tenant, outcome: .failed, error: reason, logger: context.logger) } catch {
                    context.logger.error("webhook inbox not updated", metadata: ["error": "\(error)"])
                }
            } else {
                WebhookOutcomeCounter.process.count(source: event.source, outcome: WebhookInbox.InboxStatus.failed.rawValue)
            }
            throw error
        }
        if let inbox {
            try await inbox.close(event, tenant: tenant, outcome: .init(outcome), logger: context.logger)
        } else {
            WebhookOutcomeCounter.process.count(source: event.source, outcome: outcome.rawValue)
        }
        context.logger.info("webhook event \(outcome.rawValue)", metadata: metadata)
    }
}

public struct StripeWebhookJob: WebhookEventJob {
    public static let source = "stripe"
    public let dispatch: WebhookDispatch
    public let inbox: WebhookInbox?
    public init(dispatch: WebhookDispatch = WebhookDispatch(), inbox: WebhookInbox? = nil) {
        self.dispatch = dispatch
        self.inbox = inbox
    }
}

public struct MedusaWebhookJob: WebhookEventJob {
    public static let source = "medusa"
    public let dispatch: WebhookDispatch
    public let inbox: WebhookInbox?
    public init(dispatch: WebhookDispatch = WebhookDispatch(), inbox: WebhookInbox? = nil) {
        self.dispatch = dispatch
        self.inbox = inbox
    }
}

public struct PayloadWebhookJob: WebhookEventJob {
    public static let source = "payload"
    public let dispatch: WebhookDispatch
    public let inbox: WebhookInbox?
    public init(dispatch: WebhookDispatch = WebhookDispatch(), inbox: WebhookInbox? = nil) {
        self.dispatch = dispatch
        self.inbox = inbox
    }
}

public struct FleetbaseWebhookJob: WebhookEventJob {
    public static let source = "fleetbase"
    public let dispatch: WebhookDispatch
    public let inbox: WebhookInbox?
    public init(dispatch: WebhookDispatch = WebhookDispatch(), inbox: WebhookInbox? = nil) {
        self.dispatch = dispatch
        self.inbox = inbox
    }
}

public struct ERPNextWebhookJob: WebhookEventJob {
    public static let source = "erpnext"
    public let dispatch: WebhookDispatch
    public let inbox: WebhookInbox?
    public init(dispatch: WebhookDispatch = WebhookDispatch(), inbox: WebhookInbox? = nil) {
        self.dispatch = dispatch
        self.inbox = inbox
    }
}

extension JobRegistry {
    /// Registers `webhook.<source>` for every source, each dispatching through `dispatch` and
    /// recording in `inbox` (none: outcomes are only counted).
    public mutating func registerWebhookJobs(dispatch: WebhookDispatch, inbox: WebhookInbox?) {
        register(StripeWebhookJob(dispatch: dispatch, inbox: inbox))
        register(MedusaWebhookJob(dispatch: dispatch, inbox: inbox))
        register(PayloadWebhookJob(dispatch: dispatch, inbox: inbox))
        register(FleetbaseWebhookJob(dispatch: dispatch, inbox: inbox))
        register(ERPNextWebhookJob(dispatch: dispatch, inbox: inbox))
    }
}
