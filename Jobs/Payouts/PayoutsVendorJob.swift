import Connectors
import Foundation
import Logging
import Queue
import Store

/// `payouts.vendor {"vendor_id": …}` (tenant in the envelope): pays one vendor's payable balance
/// as one Stripe Connect transfer per currency.
///
/// Crash safety, step by step — each step is safe to repeat, so a redelivery after a crash anywhere
/// ends with exactly one transfer and a `paid` payout:
/// 1. One transaction creates the payout row (`pending`, amount = the sum of the payable entries)
///    and claims those entries (`payout_items`), then commits. A crash before the commit leaves
///    nothing; after it, the redelivery finds the pending payout and resumes it instead of
///    creating another (one pending payout per vendor and currency, by a unique index).
/// 2. `createTransfer` with idempotency key = the payout's id, and the destination and amount
///    stored in the row. A crash before the call, or after Stripe answered but before step 3
///    commits, makes the redelivery send the same request with the same key: Stripe answers
///    with the same transfer (`Idempotent-Replayed`) instead of making a second one.
/// 3. One transaction, through the execution ledger keyed by the payout, marks the payout `paid`
///    with the transfer id and appends the ledger's `payout` entry (−amount).
///
/// Failures: a retryable Stripe error (5xx, timeout, 429), or an answer that may hide a transfer made
/// (a success whose body does not read, a 4xx without Stripe's error object), fails the attempt and
/// the job is retried; the payout stays pending and is resumed (also by the next day's `payouts.run`).
/// A refusal Stripe read the request for (the account cannot receive, invalid request) marks the
/// payout `failed` with the reason —
/// its entries are payable again — and the job fails permanently, so it shows in the dead letters.
/// An idempotency-key mismatch is a bug, not a refusal: the payout is left pending for an operator.
/// The platform's own balance short (`balance_insufficient`: its charges' funds not yet available)
/// is not the vendor's refusal: the payout is marked `failed` all the same (Stripe keeps that answer
/// under its key for a day), and the job is retried an hour later, paying the entries by a new payout.
///
/// Stripe keeps idempotency keys for 24 hours, so a payout pending for longer than
/// `resendLimitSeconds` (23 h; its retries exhausted, found again by a later `payouts.run`) is never
/// sent again: if its first call did reach Stripe, a resend could pay twice. From
/// `settleAfterSeconds` (23.5 h: every send began before 23 h and has long ended, so whatever
/// transfer it made is in Stripe's record) Stripe's own record decides instead:
/// - one transfer in the payout's `transfer_group` (`payout_<id>`) of its amount, currency and
///   destination, none of it reversed → the payout is booked `paid` with it;
/// - none in the group, and no transfer of the same amount and currency to the destination since
///   the payout was opened (one an operator made by hand, say) → `failed` ("never made"), and its
///   entries go into a new payout under a new key;
/// - anything else → left pending, and the job fails permanently saying what Stripe holds, for an
///   operator (the vendor's payouts wait until the payout is settled by hand: `cityos payouts settle`,
///   ``PayoutOperations``).
/// Between the two limits the payout waits: the job succeeds, and a later `payouts.run` settles it.
/// Reading the record any earlier could find a send still running at Stripe, and pay twice.
///
/// A payout resumed from an earlier attempt holds back the vendor's other balances (one round of
/// payouts at a time): once every resumed payout is settled, the job opens and pays the rest in
/// the same run, rather than leaving them for the next day's `payouts.run`.
public struct PayoutsVendorJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        public var vendorID: UUID
        enum CodingKeys: String, CodingKey { case vendorID = "vendor_id" }
        public init(vendorID: UUID) { self.vendorID = vendorID }
    }

    /// Below Stripe's 24-hour idempotency window, with an hour of margin.
    public static let defaultResendLimitSeconds: Double = 23 * 3600
    /// Half an hour after the last send can have begun: Stripe's record of it is complete.
    public static let defaultSettleAfterSeconds: Double = 23.5 * 3600

    public static let kind = "payouts.vendor"
    public static let options = JobOptions(queue: "payouts", retry: .exponentialJitter(maxAttempts: 12),
                                           timeout: .seconds(120))
    let database: Database?
    let stripe: StripeConnector?
    /// A pending payout older than this is not sent again (see above).
    let resendLimitSeconds: Double
    /// A pending payout at least this old is settled from Stripe's record (see above).
    let settleAfterSeconds: Double

    public init(database: Database?, stripe: StripeConnector?,
                resendLimitSeconds: Double = PayoutsVendorJob.defaultResendLimitSeconds,
                settleAfterSeconds: Double = PayoutsVendorJob.defaultSettleAfterSeconds) {
        self.database = database
        self.stripe = stripe
        self.resendLimitSeconds = resendLimitSeconds
        self.settleAfterSeconds = max(settleAfterSeconds, resendLimitSeconds)
    }

    /// What became of one payout in this run.
    private enum Outcome {
        /// Paid, or failed and its entries released: nothing of it is pending any more.
        case settled
        /// Still pending, past the resend limit and not yet old enough to settle from Stripe's record.
        case waiting
        /// Refused for good, or left pending for an operator: why.
        case refused(String)
        /// Refused because the platform's Stripe balance is short now: marked failed, its entries
        /// payable again, and the job tries again later with a new payout (a new key: Stripe keeps
        /// the refusal under the old one for a day).
        case balanceShort(String)
    }

    /// How long a vendor's payout waits when the platform's Stripe balance is short before the job
    /// tries again (funds from charges become available over days; retries use the job's attempts).
    static let balanceShortRetry: Duration = .seconds(3_600)

    /// The platform's Stripe balance could not pay a payout: retried after ``balanceShortRetry``.
    struct BalanceShort: Error, RetryAfterHint, CustomStringConvertible {
        let reasons: [String]
        var retryAfter: Duration? { PayoutsVendorJob.balanceShortRetry }
        var description: String { reasons.joined(separator: "; ") }
    }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let stripe = try JobDependency.required(stripe, "the Stripe connector", for: Self.kind)
        let tenant = try JobTenant.required(context)
        let book = PayoutBook(database: database, logger: context.logger)
        var refused: [String] = []
        var short: [String] = []
        var payouts = try await book.open(tenant: tenant, vendor: arguments.vendorID)
        for round in 0..<2 {
            var waiting = false
            for payout in payouts {
                switch try await pay(payout, stripe: stripe, book: book, tenant: tenant, context: context) {
                case .settled: break
                case .waiting: waiting = true
                case .refused(let reason): refused.append(reason)
                case .balanceShort(let reason): short.append(reason)
                }
            }
            // Resumed payouts held back the rest of the balance; now settled, it can be opened.
            guard round == 0, refused.isEmpty, short.isEmpty, !waiting, payouts.contains(where: \.resumed) else { break }
            payouts = try await book.open(tenant: tenant, vendor: arguments.vendorID)
        }
        if !refused.isEmpty { throw JobFailure.permanent((refused + short).joined(separator: "; ")) }
        if !short.isEmpty { throw BalanceShort(reasons: short) }
    }

    /// Steps 2 and 3 for one payout, or its settlement from Stripe's record once it is too old to send.
    private func pay(_ found: PendingPayout, stripe: StripeConnector, book: PayoutBook, tenant: UUID,
                     context: JobContext) async throws -> Outcome {
        // Its age read again just before the send, not when it was found: the resend limit must
        // hold at the send itself. Settled meanwhile (another run, the webhook): nothing to do.
        guard let age = try await book.pendingAge(found, tenant: tenant) else { return .settled }
        var payout = found
        payout.ageSeconds = age
        if payout.ageSeconds > resendLimitSeconds {
            guard payout.ageSeconds >= settleAfterSeconds else {
                context.logger.info("payout past the resend limit waits until Stripe's record can settle it", metadata: [
                    "payout_id": "\(payout.id)", "age_hours": "\(Int(payout.ageSeconds / 3600))"])
                return .waiting
            }
            return try await settleExpired(payout, stripe: stripe, book: book, tenant: tenant, context: context)
        }
        FailPoints.crashIfEnabled("payouts.vendor.before_transfer")
        let transfer: StripeTransfer
        do {
            transfer = try await stripe.createTransfer(
                amount: Money(minorUnits: Int(payout.amount), currency: payout.currency), destination: payout.destination,
                transferGroup: "payout_\(payout.idempotencyKey)", description: "CityOS vendor payout",
                metadata: ["payout_id": payout.idempotencyKey, "vendor_id": payout.vendorID.uuidString.lowercased(),
                           "tenant_id": tenant.uuidString.lowercased()],
                idempotencyKey: payout.idempotencyKey)
        } catch {
            // Stripe may have made the transfer (a timeout, an answer that does not read): the payout
            // stays pending and its entries held, and the next attempt sends the same key, which
            // Stripe answers with the transfer it made, if it made one. Never marked failed: a
            // failed payout frees its entries, and the next payout would have a new key.
            if error.isRetryable || error.mayHaveTakenEffect { throw error }
            if case .idempotencyMismatch = error { throw JobFailure.permanent("payout \(payout.id): \(error); left pending") }
            if !error.refusesThisRequest {
                // Refused before Stripe read the key (credentials, configuration): an earlier send
                // whose answer was lost may have made the transfer. Failed, the payout would free
                // its entries for a new payout under a new key, which would pay them again.
                throw JobFailure.permanent("payout \(payout.idempotencyKey): \(error); left pending, its entries held: "
                    + "fix the Stripe setup, then replay this dead letter (the same key is sent again)")
            }
            if case .rejected(_, _, "balance_insufficient"?, _) = error {
                // Not the vendor's fault, nor for good: charges' funds become available later.
                try await book.markFailed(payout, reason: error.description, tenant: tenant)
                context.logger.warning("payout refused: the platform's Stripe balance is short; tried again later", metadata: [
                    "payout_id": "\(payout.id)", "error": "\(error)"])
                return .balanceShort("payout \(payout.idempotencyKey) of \(payout.amount) \(payout.currency): the platform's "
                    + "available Stripe balance is short (\(error)); marked failed, its entries go into a new payout when "
                    + "the job tries again")
            }
            let reason = "payout \(payout.idempotencyKey) failed: \(error)"
            try await book.markFailed(payout, reason: error.description, tenant: tenant)
            context.logger.error("payout refused", metadata: ["payout_id": "\(payout.id)", "error": "\(error)"])
            return .refused(reason)
        }
        FailPoints.crashIfEnabled("payouts.vendor.after_transfer")
        guard Int64(transfer.money.minorUnits) == payout.amount else {
            throw JobFailure.permanent(PayoutError.amountMismatch(payout: payout.id, expected: payout.amount,
                                                                  transferred: transfer.money.minorUnits).description)
        }
        try await book.markPaid(payout, transferID: transfer.id, tenant: tenant, jobID: context.jobID)
        return .settled
    }

    /// A payout pending past Stripe's idempotency window, settled from Stripe's record (see above).
    private func settleExpired(_ payout: PendingPayout, stripe: StripeConnector, book: PayoutBook, tenant: UUID,
                               context: JobContext) async throws -> Outcome {
        let group = "payout_\(payout.idempotencyKey)"
        let amount = Money(minorUnits: Int(payout.amount), currency: payout.currency)
        let pendingFor = "payout \(payout.idempotencyKey) of \(amount), pending for \(Int(payout.ageSeconds / 3600)) h "
            + "(past Stripe's 24-hour idempotency window, so never sent again)"
        func list(group: String? = nil, destination: String? = nil,
                  since: Int? = nil) async throws -> Result<StripeList<StripeTransfer>, ConnectorError> {
            do {
                return .success(try await stripe.allTransfers(group: group, destination: destination, createdSince: since))
            } catch {
                if error.isRetryable || error.mayHaveTakenEffect { throw error }
                return .failure(error)
            }
        }
        func describe(_ transfers: [StripeTransfer], more: Bool) -> String {
            transfers.map { "\($0.id) (\($0.money) to \($0.destination))" }.joined(separator: ", ") + (more ? " and more" : "")
        }
        let metadata: Logger.Metadata = ["payout_id": "\(payout.id)", "transfer_group": "\(group)"]
        let byHand = "left pending: settle it by hand (`cityos payouts settle --tenant \(tenant.uuidString.lowercased()) "
            + "\(payout.idempotencyKey) --transfer TRANSFER` or `--never-made`)"
        let inGroup: StripeList<StripeTransfer>
        switch try await list(group: group) {
        case .success(let listed): inGroup = listed
        case .failure(let error): return .refused("\(pendingFor): reading transfer group \(group) failed: \(error); left pending")
        }
        if inGroup.data.count == 1, !inGroup.hasMore, Self.isTransfer(inGroup.data[0], of: payout) {
            try await book.markPaid(payout, transferID: inGroup.data[0].id, tenant: tenant, jobID: context.jobID)
            context.logger.info("expired payout booked from the transfer Stripe made for it",
                                metadata: metadata.merging(["transfer_id": "\(inGroup.data[0].id)"]) { _, new in new })
            return .settled
        }
        guard inGroup.data.isEmpty, !inGroup.hasMore else {
            return .refused("\(pendingFor): transfer group \(group) holds \(describe(inGroup.data, more: inGroup.hasMore)), "
                + "not one transfer of \(amount) to \(payout.destination); \(byHand)")
        }
        // Nothing under its key. A transfer of the same amount to the vendor since it was opened (an
        // operator who paid it by hand, say) may be this payout all the same: then it is not paid again.
        // When it was opened by PostgreSQL's clock, which its age is measured by; an hour's margin
        // for Stripe's: it can only add alarms.
        let opened = Int(payout.openedAt ?? (Date().timeIntervalSince1970 - payout.ageSeconds)) - 3_600
        let toVendor: StripeList<StripeTransfer>
        switch try await list(destination: payout.destination, since: opened) {
        case .success(let listed): toVendor = listed
        case .failure(let error):
            return .refused("\(pendingFor): reading the transfers to \(payout.destination) failed: \(error); left pending")
        }
        let alike = toVendor.data.filter { Self.isTransfer($0, of: payout, ignoringReversals: true) }
        if !alike.isEmpty || toVendor.hasMore {
            // Settled meanwhile by another run (whose new payout is the transfer seen): not an alarm.
            guard try await book.pendingAge(payout, tenant: tenant) != nil else { return .settled }
            let seen = alike.isEmpty ? "more than \(toVendor.data.count) transfers" : describe(alike, more: toVendor.hasMore)
            return .refused("\(pendingFor): transfer group \(group) is empty, but \(payout.destination) received \(seen) "
                + "since it was opened, which may be this payout made another way; \(byHand)")
        }
        let reason = "never made: Stripe has no transfer in group \(group), nor one of its amount to \(payout.destination), "
            + "after \(Int(payout.ageSeconds / 3600)) h; its entries go into the next payout"
        guard try await book.markFailed(payout, reason: reason, tenant: tenant) else {
            return .settled   // settled meanwhile by another path (an operator, the webhook)
        }
        context.logger.warning("expired payout never reached Stripe; its balance is paid again under a new key", metadata: metadata)
        return .settled
    }

    /// Whether a transfer Stripe made is this payout's: the same amount, currency and destination,
    /// and none of it reversed (returned money is an operator's to settle, as `transfer.*` events say).
    private static func isTransfer(_ transfer: StripeTransfer, of payout: PendingPayout, ignoringReversals: Bool = false) -> Bool {
        Int64(transfer.money.minorUnits) == payout.amount && transfer.currency.uppercased() == payout.currency.uppercased()
            && transfer.destination == payout.destination
            && (ignoringReversals || (!transfer.reversed && transfer.amountReversed == 0))
    }
}
