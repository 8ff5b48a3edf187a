import Connectors
import Foundation
import Queue
import Store

/// Stripe's `payment_intent.succeeded` and `payment_intent.payment_failed` for the PaymentIntents
/// of invoice attempts (``BillingInvoiceJob`` puts `tenant_id`, `invoice_id` and `attempt` in their
/// metadata). Applied through ``InvoiceBook`` exactly as the job applies Stripe's answer, so the
/// event and the answer may arrive in either order, twice, or late: a success always ends with the
/// invoice paid; a failure only settles a still-pending attempt, and never reopens a paid invoice.
/// A PaymentIntent without that metadata is not a subscription charge: ignored.
public struct PaymentIntentEvents: WebhookEventHandler {
    public static let types = ["payment_intent.succeeded", "payment_intent.payment_failed"]
    let database: Database?
    let clock: JobClock

    public init(database: Database?, clock: JobClock = .system) {
        self.database = database
        self.clock = clock
    }

    public func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
        let object = event.payload["data"]?["object"]
        let metadata = object?["metadata"]
        guard let invoiceText = metadata?["invoice_id"]?.stringValue else { return .ignored }
        guard let invoice = UUID(uuidString: invoiceText),
              let attempt = metadata?["attempt"]?.stringValue.flatMap({ Int($0) }),
              let tenantText = metadata?["tenant_id"]?.stringValue, let tenant = UUID(uuidString: tenantText),
              let intentID = object?["id"]?.stringValue else {
            throw JobFailure.permanent("\(event.type) \(event.eventID): metadata invoice_id, attempt and tenant_id must name an invoice attempt")
        }
        if let envelopeTenant = context.tenant, UUID(uuidString: envelopeTenant) != tenant {
            throw JobFailure.permanent("\(event.type) \(event.eventID): the envelope's tenant is not the PaymentIntent's")
        }
        let database = try JobDependency.required(database, "a database", for: context.kind)
        let book = InvoiceBook(database: database, logger: context.logger)
        let record: AttemptRecord
        switch event.type {
        case "payment_intent.succeeded":
            guard let received = Self.int(object?["amount_received"]) ?? Self.int(object?["amount"]),
                  let currency = object?["currency"]?.stringValue else {
                throw JobFailure.permanent("\(event.type) \(event.eventID): no amount or currency")
            }
            let amount = StripeAmount.money(received, currency: currency).minorUnits   // Stripe's units → ISO minor units
            record = try await book.recordSucceeded(.init(tenant: tenant, invoiceID: invoice, attempt: attempt,
                                                          paymentIntentID: intentID, amount: amount, currency: currency,
                                                          at: clock.now()))
        case "payment_intent.payment_failed":
            let error = object?["last_payment_error"]
            record = try await book.recordFailed(.init(
                tenant: tenant, invoiceID: invoice, attempt: attempt, paymentIntentID: intentID,
                declineCode: error?["decline_code"]?.stringValue ?? error?["code"]?.stringValue,
                message: error?["message"]?.stringValue ?? "payment failed", at: clock.now()))
        default:
            return .ignored
        }
        return record == .applied ? .processed : .ignored
    }

    private static func int(_ value: JSONValue?) -> Int? {
        guard let value, let number = value.intValue, number > 0 else { return nil }
        return number
    }
}
