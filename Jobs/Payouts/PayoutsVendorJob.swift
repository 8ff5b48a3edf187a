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
/// (a success whose body does not read), fails the attempt and the job is retried; the payout stays
/// pending and is resumed (also by the next day's `payouts.run`). A non-retryable
/// one (the account cannot receive, invalid request) marks the payout `failed` with the reason —
/// its entries are payable again — and the job fails permanently, so it shows in the dead letters.
/// An idempotency-key mismatch is a bug, not a refusal: the payout is left pending for an operator.
///
/// Stripe keeps idempotency keys for 24 hours, so a payout pending for longer than
/// `resendLimitSeconds` (23 h; its retries exhausted, found again by a later `payouts.run`) is never
/// sent again: if its first call did reach Stripe, a resend could pay twice. Stripe's own record
/// decides instead, the transfers in the payout's `transfer_group` (`payout_<id>`), which a
/// request that reached Stripe a day ago has long since made: one transfer of the payout's
/// amount, currency and destination → the payout is booked `paid` with it; none → the payout is
/// `failed` ("never made") and its entries go into a new payout with a new key; anything else
/// (another amount, several transfers) → left pending and the job fails permanently naming it,
/// for an operator.
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

    public static let kind = "payouts.vendor"
    public static let options = JobOptions(queue: "payouts", retry: .exponentialJitter(maxAttempts: 12),
                                           timeout: .seconds(120))
    let database: Database?
    let stripe: StripeConnector?
    /// A pending payout older than this is not sent again (see above).
    let resendLimitSeconds: Double

    public init(database: Database?, stripe: StripeConnector?,
                resendLimitSeconds: Double = PayoutsVendorJob.defaultResendLimitSeconds) {
        self.database = database
        self.stripe = stripe
        self.resendLimitSeconds = resendLimitSeconds
    }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let stripe = try JobDependency.required(stripe, "the Stripe connector", for: Self.kind)
        let tenant = try JobTenant.required(context)
        let book = PayoutBook(database: database, logger: context.logger)
        var refused: [String] = []
        var payouts = try await book.open(tenant: tenant, vendor: arguments.vendorID)
        for round in 0..<2 {
            for payout in payouts {
                if let reason = try await pay(payout, stripe: stripe, book: book, tenant: tenant, context: context) {
                    refused.append(reason)
                }
            }
            // Resumed payouts held back the rest of the balance; now settled, it can be opened.
            guard round == 0, refused.isEmpty, payouts.contains(where: \.resumed) else { break }
            payouts = try await book.open(tenant: tenant, vendor: arguments.vendorID)
        }
        if !refused.isEmpty { throw JobFailure.permanent(refused.joined(separator: "; ")) }
    }

    /// Steps 2 and 3 for one payout; returns the reason if Stripe refused it for good, or if it
    /// is left pending for an operator.
    private func pay(_ payout: PendingPayout, stripe: StripeConnector, book: PayoutBook, tenant: UUID,
                     context: JobContext) async throws -> String? {
        guard payout.ageSeconds <= resendLimitSeconds else {
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
            let reason = "payout \(payout.idempotencyKey) failed: \(error)"
            try await book.markFailed(payout, reason: error.description, tenant: tenant)
            context.logger.error("payout refused", metadata: ["payout_id": "\(payout.id)", "error": "\(error)"])
            return reason
        }
        FailPoints.crashIfEnabled("payouts.vendor.after_transfer")
        guard Int64(transfer.money.minorUnits) == payout.amount else {
            throw JobFailure.permanent(PayoutError.amountMismatch(payout: payout.id, expected: payout.amount,
                                                                  transferred: transfer.money.minorUnits).description)
        }
        try await book.markPaid(payout, transferID: transfer.id, tenant: tenant, jobID: context.jobID)
        return nil
    }

    /// A payout pending past Stripe's idempotency window, settled from the transfers in its
    /// `transfer_group` (see above); returns the reason when it is left pending for an operator.
    private func settleExpired(_ payout: PendingPayout, stripe: StripeConnector, book: PayoutBook, tenant: UUID,
                               context: JobContext) async throws -> String? {
        let group = "payout_\(payout.idempotencyKey)"
        let pendingFor = "payout \(payout.idempotencyKey), pending for \(Int(payout.ageSeconds / 3600)) h "
            + "(past Stripe's 24-hour idempotency window, so never sent again)"
        let listed: StripeList<StripeTransfer>
        do {
            listed = try await stripe.transfers(inGroup: group)
        } catch {
            if error.isRetryable || error.mayHaveTakenEffect { throw error }
            return "\(pendingFor): reading transfer group \(group) failed: \(error); left pending"
        }
        let metadata: Logger.Metadata = ["payout_id": "\(payout.id)", "transfer_group": "\(group)"]
        switch listed.data.count {
        case 0 where !listed.hasMore:
            try await book.markFailed(payout, reason: "never made: Stripe has no transfer in group \(group) after "
                + "\(Int(payout.ageSeconds / 3600)) h; its entries go into the next payout", tenant: tenant)
            context.logger.warning("expired payout never reached Stripe; its balance is paid again under a new key",
                                   metadata: metadata)
            return nil
        case 1 where Self.isTransfer(listed.data[0], of: payout):
            try await book.markPaid(payout, transferID: listed.data[0].id, tenant: tenant, jobID: context.jobID)
            context.logger.info("expired payout booked from the transfer Stripe made for it",
                                metadata: metadata.merging(["transfer_id": "\(listed.data[0].id)"]) { _, new in new })
            return nil
        default:
            let found = listed.data.map { "\($0.id) (\($0.money) to \($0.destination))" }.joined(separator: ", ")
            return "\(pendingFor): transfer group \(group) holds \(found)\(listed.hasMore ? " and more" : ""), not one transfer "
                + "of \(Money(minorUnits: Int(payout.amount), currency: payout.currency)) to \(payout.destination); "
                + "left pending: settle it by hand"
        }
    }

    /// Whether a transfer Stripe made is this payout's: the same amount, currency and destination,
    /// and none of it reversed (returned money is an operator's to settle, as `transfer.*` events say).
    private static func isTransfer(_ transfer: StripeTransfer, of payout: PendingPayout) -> Bool {
        Int64(transfer.money.minorUnits) == payout.amount && transfer.currency.uppercased() == payout.currency.uppercased()
            && transfer.destination == payout.destination && !transfer.reversed && transfer.amountReversed == 0
    }
}
