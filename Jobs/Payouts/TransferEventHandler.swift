import Connectors
import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// Stripe `transfer.*` (`data.object` is the transfer; `metadata.payout_id` names the payout that
/// `payouts.vendor` sent it for): reconciles the payout with the transfer.
/// - payout `pending`, transfer of its amount → `paid` with the transfer id and its ledger entry,
///   booked exactly as `payouts.vendor` books it (one execution-ledger key per payout, so whichever
///   of the two gets there first books it and the other books nothing);
/// - payout `paid` with this transfer → already reconciled: ignored;
/// - a transfer with no `payout_id` was not made by payouts: ignored.
/// Everything else needs an operator and fails the event with the reason (dead letter, inbox
/// `failed`): a reversed transfer (the vendor's money came back), a different transfer, amount or
/// destination account than the payout's, a transfer for a payout marked `failed` (its entries are
/// payable again, so paying them again would pay twice), or a transfer Stripe says did not go
/// through (`transfer.failed`, `transfer.canceled`: types older API versions still send). Only
/// `transfer.created`, `transfer.updated` and `transfer.paid` (older versions) book a payout paid.
struct TransferEventHandler: WebhookEventHandler {
    let database: Database?
    /// The types that say a transfer was made (`transfer.paid`: API versions before 2017).
    static let typesThatBookPaid: Set<String> = ["transfer.created", "transfer.updated", "transfer.paid"]

    func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
        let database = try JobDependency.required(database, "a database", for: "webhook \(event.type)")
        let transferID = try event.requiredString("data", "object", "id")
        guard let payoutText = event.string("data", "object", "metadata", "payout_id") else { return .ignored }
        guard let payoutID = UUID(uuidString: payoutText) else {
            throw JobFailure.permanent("stripe \(event.type) \(transferID): metadata.payout_id \(payoutText) is not a UUID")
        }
        guard let units = event.int("data", "object", "amount") else {
            throw JobFailure.permanent("stripe \(event.type) event \(event.eventID) has no data.object.amount")
        }
        let tenant = try EventTenant.required(event, context)
        let reversed = event.bool("data", "object", "reversed") == true || (event.int("data", "object", "amount_reversed") ?? 0) > 0
        let booksPaid = Self.typesThatBookPaid.contains(event.type)
        let logger = context.logger
        let row = try await database.withTenant(tenant) { connection -> (String, UUID, Int64, String, String, String?)? in
            let rows = try await connection.query("""
                SELECT status, vendor_id, amount, currency, destination, stripe_transfer_id FROM payouts WHERE id = \(payoutID)
                """, logger: logger)
            for try await row in rows.decode((String, UUID, Int64, String, String, String?).self) { return row }
            return nil
        }
        guard let (status, vendor, payoutAmount, currency, destination, storedTransfer) = row else {
            throw JobFailure.permanent("transfer \(transferID) names payout \(payoutID), which tenant \(tenant) does not have")
        }
        let payout = "payout \(payoutID) (\(status))"
        // Stripe's units → ISO minor units, in the transfer's currency (the payout's if the event omits it).
        let transferCurrency = event.string("data", "object", "currency") ?? currency
        let amount = Int64(StripeAmount.money(Int(units), currency: transferCurrency).minorUnits)
        if reversed {
            throw JobFailure.permanent("transfer \(transferID) was reversed: \(payout) needs an operator to settle the returned money")
        }
        if let to = event.string("data", "object", "destination"), to != destination {
            throw JobFailure.permanent("transfer \(transferID) went to \(to), \(payout) was for \(destination); "
                + "an operator must reconcile it")
        }
        switch status {
        case "pending" where !booksPaid:
            throw JobFailure.permanent("stripe \(event.type) for transfer \(transferID): the transfer did not go through; "
                + "\(payout) is left pending for an operator (`cityos payouts settle`)")
        case "pending":
            guard amount == payoutAmount, transferCurrency.lowercased() == currency.lowercased() else {
                throw JobFailure.permanent("transfer \(transferID) is \(amount) \(transferCurrency.uppercased()), \(payout) is "
                    + "\(payoutAmount) \(currency.uppercased()); left pending for an operator")
            }
            let pending = PendingPayout(id: payoutID, vendorID: vendor, amount: payoutAmount, currency: currency, destination: destination)
            try await PayoutBook(database: database, logger: logger).markPaid(pending, transferID: transferID, tenant: tenant,
                                                                              jobID: context.jobID)
            return .processed
        case "paid" where storedTransfer == transferID && booksPaid:
            return .ignored
        default:
            throw JobFailure.permanent("transfer \(transferID) does not match \(payout), transfer \(storedTransfer ?? "none"); "
                + "an operator must reconcile it")
        }
    }
}
