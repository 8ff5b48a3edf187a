import Connectors
import Foundation
import Queue
import Store

/// `billing.invoice {"subscription_id"}` (tenant in the envelope): invoices one subscription's
/// next period if it is due and charges the invoice's next payment attempt if one is due — the
/// first attempt when fanned out by `billing.cycle`, a retry when fanned out by `payments.retry`.
///
/// Steps, each safe to repeat (see ``InvoiceBook``):
/// 1. One transaction creates the invoice (unique per subscription and period) and its next
///    attempt, `pending`, and commits — or finds an attempt left pending by an earlier delivery.
/// 2. One off-session PaymentIntent (`confirm=true`, `off_session=true`) with idempotency key
///    `invoice_<invoice id>_attempt_<n>` and metadata `tenant_id`, `invoice_id`, `attempt`: a
///    redelivery after a crash repeats the request and Stripe answers the same PaymentIntent.
/// 3. Stripe's answer is applied like its webhook would be: succeeded → the invoice is paid and
///    the subscription's period advances; declined → the attempt failed, and the tenant's dunning
///    policy schedules the next attempt or ends the subscription. A PaymentIntent still processing
///    stays pending until its `payment_intent.*` webhook settles it (``PaymentIntentEvents``); one
///    waiting for the customer to authenticate it (`requires_action`) is canceled and the attempt
///    failed, for dunning to chase; one waiting for a payment the customer makes later (a bank
///    transfer, a voucher) stays pending as `processing` does, for at most a week, then likewise.
///
/// Stripe errors that may pass (5xx, timeouts, 429) fail the job, which is retried: it resumes the
/// pending attempt with the same key. Stripe keeps keys 24 hours; a job's retries end well before.
public struct BillingInvoiceJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        public var subscriptionID: UUID
        enum CodingKeys: String, CodingKey { case subscriptionID = "subscription_id" }
        public init(subscriptionID: UUID) { self.subscriptionID = subscriptionID }
    }

    public static let kind = "billing.invoice"
    public static let options = JobOptions(queue: "billing", retry: .exponentialJitter(maxAttempts: 10), timeout: .seconds(60))
    let database: Database?
    let stripe: StripeConnector?
    let clock: JobClock
    /// How long a charge may wait for a payment the customer makes later (a bank transfer, a
    /// voucher) before it is canceled and dunning chases the invoice (real time, from the
    /// PaymentIntent's creation).
    let payLaterLimitSeconds: Double
    /// A pending attempt older than this (real time) is never sent again (Stripe keeps keys 24 h)…
    let resendLimitSeconds: Double
    /// …and from this age on it is settled from Stripe's record (``Charge/settleFromRecord(pendingFor:)``).
    let settleAfterSeconds: Double

    /// A week: longer than Stripe's vouchers live (OXXO, Boleto and Konbini expire in days).
    public static let defaultPayLaterLimitSeconds: Double = 7 * 86_400

    public init(database: Database?, stripe: StripeConnector?, clock: JobClock = .system,
                payLaterLimitSeconds: Double = BillingInvoiceJob.defaultPayLaterLimitSeconds,
                resendLimitSeconds: Double = 23 * 3600, settleAfterSeconds: Double = 23.5 * 3600) {
        self.database = database
        self.stripe = stripe
        self.clock = clock
        self.payLaterLimitSeconds = payLaterLimitSeconds
        self.resendLimitSeconds = resendLimitSeconds
        self.settleAfterSeconds = settleAfterSeconds
    }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let stripe = try JobDependency.required(stripe, "the Stripe connector", for: Self.kind)
        let tenant = try JobTenant.required(context)
        var book = InvoiceBook(database: database, logger: context.logger)
        book.resendLimitSeconds = resendLimitSeconds
        book.settleAfterSeconds = settleAfterSeconds
        for _ in 0..<2 {
            guard let attempt = try await book.prepare(tenant: tenant, subscription: arguments.subscriptionID, now: clock.now()) else {
                return
            }
            let charge = Charge(attempt: attempt, tenant: tenant, stripe: stripe, book: book, clock: clock,
                                payLaterLimit: payLaterLimitSeconds, context: context)
            // An attempt that never reached Stripe makes way for the next, at once (once per run).
            guard try await charge.run() == .neverMade else { return }
        }
    }

    /// Steps 2 and 3 for one attempt, with what every step needs.
    struct Charge {
        let attempt: ChargeAttempt
        let tenant: UUID
        let stripe: StripeConnector
        let book: InvoiceBook
        let clock: JobClock
        let payLaterLimit: Double
        let context: JobContext

        /// How errors name the attempt.
        var name: String { "invoice \(attempt.invoiceID) attempt \(attempt.attempt)" }

        /// The attempt failed for the customer: dunning chases it.
        func failed(_ paymentIntentID: String?, code: String?, _ message: String) async throws {
            try await book.recordFailed(.init(tenant: tenant, invoiceID: attempt.invoiceID, attempt: attempt.attempt,
                                              paymentIntentID: paymentIntentID, declineCode: code, message: message,
                                              at: clock.now()))
        }

        /// What ``run()`` found of an attempt.
        enum Outcome { case done, neverMade }

        @discardableResult
        func run() async throws -> Outcome {
            if let age = attempt.pendingSeconds { return try await settleFromRecord(pendingFor: age) }
            let intent: StripePaymentIntent
            if let known = attempt.paymentIntentID {
                // Stripe answered this attempt with a PaymentIntent still settling: what is it now?
                do {
                    intent = try await stripe.paymentIntent(id: known)
                } catch {
                    if error.isRetryable { throw error }
                    throw JobFailure.permanent("\(name): reading PaymentIntent \(known): \(error); left pending")
                }
                try await apply(intent)
                return .done
            }
            do {
                intent = try await createIntent(attempt, tenant: tenant, stripe: stripe)
            } catch {
                switch error {
                case .declined(_, let code, let declineCode, let message, let intentID):
                    try await failed(intentID, code: declineCode ?? code, message)
                    context.logger.info("invoice attempt declined", metadata: [
                        "invoice_id": "\(attempt.invoiceID)", "attempt": "\(attempt.attempt)", "decline_code": "\(declineCode ?? code)"])
                    return .done
                case .rejected(_, _, let code, let message) where StripeRefusal.customerCanFix(code: code, message: message):
                    // Stripe refused the charge for the customer's payment method (e.g. it is gone): a
                    // failed attempt, which dunning chases until the customer fixes it.
                    try await failed(nil, code: code, message)
                    return .done
                default:
                    if error.isRetryable { throw error }
                    // Certainly nothing charged under this attempt's key (`refusesThisRequest`); not a
                    // 401/403 or a missing key, which come before Stripe reads the key: an earlier send
                    // whose answer was lost may have charged, and a new attempt would charge again.
                    if error.refusesThisRequest {
                        // The platform's request or account is wrong, not the customer's card: dunning
                        // must not chase the customer (and cancel every subscription) for it.
                        try await book.recordRefused(.init(tenant: tenant, invoiceID: attempt.invoiceID, attempt: attempt.attempt,
                                                           paymentIntentID: nil, declineCode: nil, message: "\(error)",
                                                           at: clock.now()))
                        throw JobFailure.permanent("\(name): \(error); refused, nothing was charged and the customer's card is "
                            + "not at fault: fix the setup, then replay this dead letter")
                    }
                    throw JobFailure.permanent("\(name): \(error); left pending")
                }
            }
            try await apply(intent)
            return .done
        }

        /// An attempt pending without a PaymentIntent past Stripe's 24-hour idempotency window (its
        /// answer lost, its retries and its resume over), settled from Stripe's record rather than
        /// sent again: the customer's PaymentIntents made since an hour before it, those whose
        /// metadata names this invoice and attempt (every send of it carried them).
        /// - one: applied as Stripe's answer would have been (paid, failed for dunning, or settling);
        /// - none, and no money taken from the customer since that may be this invoice's (a charge of
        ///   its amount naming no invoice nor order, taken by hand, say; or one naming this invoice but
        ///   another attempt): the request never reached
        ///   Stripe and nothing was charged: ``InvoiceBook/recordNeverMade``, and the invoice's next
        ///   attempt is made at once, under its own key (none when the invoice is closed);
        /// - anything else (several, such a charge, more PaymentIntents than are read: 1,000): left
        ///   pending, for an operator; `money.reconcile` counts it (`attempt_left_pending`).
        func settleFromRecord(pendingFor age: Double) async throws -> Outcome {
            // From when it was made by PostgreSQL's clock, which its age is measured by; an hour's margin
            // for Stripe's.
            let since = Int(attempt.madeAt ?? (Date().timeIntervalSince1970 - age)) - 3_600
            let pendingFor = "\(name), pending for \(Int(age / 3600)) h without an answer (past Stripe's 24-hour idempotency "
                + "window, so never sent again)"
            let listed: StripeList<StripePaymentIntent>
            do {
                listed = try await stripe.allPaymentIntents(customer: attempt.customer, createdSince: since)
            } catch {
                if error.isRetryable || error.mayHaveTakenEffect { throw error }
                throw JobFailure.permanent("\(pendingFor): reading customer \(attempt.customer)'s PaymentIntents failed: "
                    + "\(error); left pending")
            }
            let more = listed.hasMore
            let invoice = attempt.invoiceID.uuidString.lowercased()
            let mine = listed.data.filter { $0.metadata["invoice_id"] == invoice && $0.metadata["attempt"] == "\(attempt.attempt)" }
            // Money taken from the customer that may be this invoice's: a charge of its amount that
            // billing did not make for another invoice (one taken by hand), nor an order's payment;
            // or one naming this invoice but not this attempt.
            let alike = listed.data.filter { intent in
                guard [.succeeded, .processing, .requiresCapture].contains(intent.status) else { return false }
                switch intent.metadata["invoice_id"] {
                case nil:
                    return intent.metadata["order_id"] == nil && Int64(intent.money.minorUnits) == attempt.amount
                        && intent.currency.uppercased() == attempt.currency.uppercased()
                case invoice?:
                    return intent.metadata["attempt"] != "\(attempt.attempt)"
                default:
                    return false
                }
            }
            if mine.count == 1, let intent = mine.first {
                context.logger.info("payment attempt settled from Stripe's record", metadata: [
                    "invoice_id": "\(attempt.invoiceID)", "attempt": "\(attempt.attempt)", "payment_intent": "\(intent.id)",
                    "status": "\(intent.status.rawValue)"])
                try await apply(intent)
                return .done
            }
            guard mine.isEmpty, alike.isEmpty, !more else {
                let seen = !mine.isEmpty ? "\(mine.map(\.id).joined(separator: ", ")) for it"
                    : !alike.isEmpty ? "no PaymentIntent for it, but the customer paid \(alike.map(\.id).joined(separator: ", ")) "
                        + "of its amount since, which may be this invoice paid another way"
                    : "more than 1,000 PaymentIntents of the customer to read"
                throw JobFailure.permanent("\(pendingFor): Stripe holds \(seen); left pending for an operator")
            }
            let recorded = try await book.recordNeverMade(
                tenant: tenant, invoiceID: attempt.invoiceID, attempt: attempt.attempt,
                message: "never made: Stripe has no PaymentIntent for it (metadata invoice_id and attempt) after \(Int(age / 3600)) h",
                at: clock.now())
            guard recorded == .applied else { return .done }   // settled meanwhile (its webhook, another run)
            guard !attempt.onClosedInvoice else {
                context.logger.warning("payment attempt never reached Stripe; its invoice is closed: no next attempt", metadata: [
                    "invoice_id": "\(attempt.invoiceID)", "attempt": "\(attempt.attempt)"])
                return .done
            }
            context.logger.warning("payment attempt never reached Stripe; the invoice's next attempt is made now", metadata: [
                "invoice_id": "\(attempt.invoiceID)", "attempt": "\(attempt.attempt)"])
            return .neverMade
        }

        func apply(_ intent: StripePaymentIntent) async throws {
            switch intent.status {
            case .succeeded:
                try await book.recordSucceeded(.init(tenant: tenant, invoiceID: attempt.invoiceID, attempt: attempt.attempt,
                                                     paymentIntentID: intent.id, amount: intent.money.minorUnits,
                                                     currency: intent.currency, at: clock.now()))
            case .canceled where intent.cancellationReason == abandonReason && intent.lastPaymentError == nil:
                // Canceled here while it waited for the customer (the cancel's answer, or the failed
                // attempt's write, was lost): a failed attempt, as `abandon` records it.
                try await failed(intent.id, code: Abandonment.waitedCode, "PaymentIntent canceled while it waited for the customer")
            case .requiresPaymentMethod, .canceled:
                let error = intent.lastPaymentError
                try await failed(intent.id, code: error?.declineCode ?? error?.code,
                                 error?.message ?? "PaymentIntent \(intent.status.rawValue)")
            case .requiresConfirmation:   // left unconfirmed: nobody is there to confirm it
                try await abandon(intent, .authentication)
            case .requiresAction where waitsForAuthentication(intent):
                try await abandon(intent, .authentication)
            case .requiresAction where attempt.onClosedInvoice:
                // A payment the customer was to make later, for a subscription that has ended since.
                try await abandon(intent, .closed(intent.nextActionType ?? "requires_action"))
            case .requiresAction where Date().timeIntervalSince1970 - Double(intent.created ?? Int.max) > payLaterLimit:
                try await abandon(intent, .unpaid(intent.nextActionType ?? "requires_action", days: Int(payLaterLimit / 86_400)))
            default:
                // Kept on the attempt: should the webhook never come, `payments.retry` has it read.
                try await book.noteSettling(attempt, tenant: tenant, paymentIntentID: intent.id)
                context.logger.info("invoice attempt pending at Stripe; its webhook settles it", metadata: [
                    "invoice_id": "\(attempt.invoiceID)", "attempt": "\(attempt.attempt)", "status": "\(intent.status.rawValue)"])
            }
        }

        /// A charge that waits for the customer: their bank asks them to authenticate it
        /// (`requires_action`, 3-D Secure), or it was left unconfirmed, or a payment they were to
        /// make later has not come within `payLaterLimit`. Off-session nobody is there to do it, and
        /// Stripe keeps such a PaymentIntent for ever, so waiting for its webhook would leave the
        /// invoice unpaid and unchased. The PaymentIntent is kept on the attempt first (a later run
        /// reads it, whatever happens next), then canceled, so that it can never charge after
        /// dunning's next attempt has, and the attempt is failed with `why`'s code
        /// (`authentication_required`, or `payment_intent_action_required`): dunning chases the
        /// customer, who authenticates, pays or changes card before the next attempt.
        func abandon(_ intent: StripePaymentIntent, _ why: Abandonment) async throws {
            let what = "\(name): PaymentIntent \(intent.id) (\(intent.status.rawValue))"
            try await book.noteSettling(attempt, tenant: tenant, paymentIntentID: intent.id)
            do {
                _ = try await stripe.cancelPaymentIntent(id: intent.id, reason: abandonReason)
            } catch {
                if error.isRetryable || error.mayHaveTakenEffect { throw error }
                guard case .rejected(_, _, "payment_intent_unexpected_state"?, _) = error else {
                    throw JobFailure.permanent("\(what): canceling it failed: \(error); left pending")
                }
                // It moved on since it was read (the customer authenticated, say): apply what it is now.
                let now: StripePaymentIntent
                do { now = try await stripe.paymentIntent(id: intent.id) } catch {
                    if error.isRetryable { throw error }
                    throw JobFailure.permanent("\(what): reading it after Stripe refused to cancel it: \(error); left pending")
                }
                guard now.status != .requiresAction, now.status != .requiresConfirmation else {
                    throw JobFailure.permanent("\(what): Stripe refused to cancel it (\(error)) and it still waits; left pending")
                }
                try await apply(now)
                return
            }
            try await failed(intent.id, code: why.declineCode, why.message)
            context.logger.info("invoice attempt waited for the customer: canceled and failed for dunning", metadata: [
                "invoice_id": "\(attempt.invoiceID)", "attempt": "\(attempt.attempt)", "payment_intent": "\(intent.id)",
                "decline_code": "\(why.declineCode)"])
        }
    }

    /// The attempt's off-session PaymentIntent: the same request (parameters and key) however
    /// often it is sent, so Stripe answers every repeat with the first answer.
    static func createIntent(_ attempt: ChargeAttempt, tenant: UUID,
                             stripe: StripeConnector) async throws(ConnectorError) -> StripePaymentIntent {
        try await stripe.chargeOffSession(
            amount: Money(minorUnits: Int(attempt.amount), currency: attempt.currency), customer: attempt.customer,
            paymentMethod: attempt.paymentMethod, description: "CityOS subscription invoice",
            metadata: ["tenant_id": tenant.uuidString.lowercased(), "invoice_id": attempt.invoiceID.uuidString.lowercased(),
                       "subscription_id": attempt.subscriptionID.uuidString.lowercased(), "attempt": "\(attempt.attempt)"],
            idempotencyKey: attempt.idempotencyKey)
    }

    /// `requires_action` that asks the customer to authenticate (3-D Secure: `use_stripe_sdk`,
    /// `redirect_to_url`, or no next action named). Other next actions wait for a payment the
    /// customer makes later (bank transfer instructions, microdeposits, a voucher): canceling at
    /// once would void it, so those stay pending and are read until Stripe settles them, for at
    /// most `payLaterLimitSeconds`; then they are abandoned too, and dunning chases the invoice.
    static func waitsForAuthentication(_ intent: StripePaymentIntent) -> Bool {
        guard let type = intent.nextActionType else { return true }
        return type == "use_stripe_sdk" || type == "redirect_to_url"
    }

    /// The `cancellation_reason` of the PaymentIntents canceled here.
    static let abandonReason = "abandoned"

    /// Why a charge that waits for the customer is given up: how the failed attempt reads.
    enum Abandonment {
        case authentication
        case unpaid(String, days: Int)
        /// Waiting for a payment the customer makes later when the invoice was closed.
        case closed(String)

        static let waitedCode = "payment_intent_action_required"

        var declineCode: String {
            if case .authentication = self { return "authentication_required" }
            return Self.waitedCode
        }

        var message: String {
            switch self {
            case .authentication:
                return "the customer's bank asked them to authenticate the charge, which cannot be done off-session; "
                    + "PaymentIntent canceled"
            case .unpaid(let action, let days):
                return "the customer did not complete the payment (\(action)) within \(days) days; PaymentIntent canceled"
            case .closed(let action):
                return "the invoice was closed (its subscription canceled) while the customer's payment (\(action)) was "
                    + "pending; PaymentIntent canceled"
            }
        }
    }
}

/// Which of Stripe's refusals of a charge the customer can fix (dunning chases those) and which
/// are certain to have charged nothing (the attempt is `refused`, for an operator).
enum StripeRefusal {
    /// Error codes about the customer's payment instrument, beyond those prefixed `payment_method_`,
    /// `card_` or `bank_account_` (https://docs.stripe.com/error-codes).
    static let customerCodes: Set<String> = [
        "expired_card", "incorrect_cvc", "incorrect_number", "invalid_cvc", "invalid_expiry_month",
        "invalid_expiry_year", "invalid_number", "authentication_required", "insufficient_funds",
        "debit_not_authorized", "invalid_card_type", "setup_intent_authentication_failure",
        "payment_intent_authentication_failure", "payment_intent_payment_attempt_failed",
    ]

    /// Whether a 4xx refusal is about the customer's payment method, which they can replace.
    static func customerCanFix(code: String?, message: String) -> Bool {
        guard let code else { return false }
        if code.hasPrefix("payment_method_") || code.hasPrefix("card_") || code.hasPrefix("bank_account_") { return true }
        if customerCodes.contains(code) { return true }
        // "No such PaymentMethod: 'pm_…'": detached or deleted; a customer gone is the platform's to fix.
        return code == "resource_missing" && message.lowercased().contains("paymentmethod")
    }
}
