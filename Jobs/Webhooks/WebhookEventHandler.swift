import Queue

/// What became of one webhook event, as the inbox records it.
public enum WebhookOutcome: String, Sendable, Codable {
    /// The event changed (or confirmed) our records.
    case processed
    /// A type we do not handle, or an event that cannot move a record forward (older than what
    /// we hold). Counted, not an error.
    case ignored
}

/// The code that applies one family of webhook events (invoices, payouts, sync, orders, …).
/// The webhook jobs look the event's (source, type) up in a `WebhookDispatch` table and call
/// the handler registered for it; each family lives with its jobs (Jobs/Billing, Jobs/Sync, …).
///
/// A handler must be safe to call twice with the same event (a retry after a crash): it
/// either finds its work done and returns, or does it once.
public protocol WebhookEventHandler: Sendable {
    /// Throw `JobFailure` (or any error) to fail the event: the job is retried by its policy,
    /// then dead-lettered with the reason, and the inbox row says `failed`.
    func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome
}
