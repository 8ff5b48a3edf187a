import Connectors
import Foundation
import Logging
import PostgresNIO
import Store

/// What operators do with payouts (`cityos payouts list | settle`): see them, and settle by hand
/// one that `payouts.vendor` left pending because Stripe's record did not settle it (its dead
/// letter says what Stripe holds). While a payout is pending it holds back the vendor's payouts.
///
/// Settling never sends money. It books one of two facts, each checked against Stripe first, and
/// only once the payout is old enough that no send of it can still be running (the job's
/// settle-after age, 23.5 h: a transfer made then under its key, or a resend, would pay twice).
/// "Live" transfers below are those not wholly reversed: one whose money all came back paid nothing.
/// - ``Decision/paidBy(transferID:)``: this transfer is the payout (the job's, or one an operator
///   made by hand). Stripe must hold it with the payout's amount, currency and destination, none
///   of it reversed, made no earlier than an hour before the payout was opened, in no other
///   payout's transfer group, its metadata naming no other payout or tenant; the payout's own
///   group (`payout_<id>`) must hold no other live transfer; and no other payout, of any tenant,
///   may be booked with it (a unique index). The payout becomes `paid` with its ledger entry,
///   under the same execution-ledger key as the job's and the `transfer.*` webhook's, so whichever
///   comes first books it once.
/// - ``Decision/neverMade``: no transfer paid it. Its transfer group must hold no live transfer.
///   The payout becomes `failed` and its entries payable again, in a new payout under a new key (the
///   next `payouts.run`, or `payouts.vendor` enqueued for the vendor).
/// For both, no other live transfer of its amount and currency may have reached the destination
/// since an hour before it was opened (the job's own alarm: a payout made by hand, or made twice),
/// unless it is booked as another payout or the operator names it as `unrelated`.
/// What neither allows (a partial reversal, a transfer of another amount in the group) is made
/// whole in Stripe first, by reversing what should not have been sent.
public struct PayoutOperations: Sendable {
    public enum Decision: Sendable, Equatable {
        case paidBy(transferID: String)
        case neverMade
    }

    /// One payout as operators see it.
    public struct Record: Sendable, Codable, Equatable {
        public let id: UUID
        public let vendorID: UUID
        /// Minor units of `currency`.
        public let amount: Int64
        public let currency: String
        public let destination: String
        public let status: String
        public let transferID: String?
        public let failureReason: String?
        public let createdAt: Date
        public let settledAt: Date?
        /// Seconds since it was opened.
        public let ageSeconds: Double

        enum CodingKeys: String, CodingKey {
            case id, amount, currency, destination, status
            case vendorID = "vendor_id", transferID = "transfer_id", failureReason = "failure_reason"
            case createdAt = "created_at", settledAt = "settled_at", ageSeconds = "age_seconds"
        }

        public var money: Money { Money(minorUnits: Int(amount), currency: currency) }
    }

    let database: Database
    let stripe: StripeConnector?
    let logger: Logger
    let settleAfterSeconds: Double

    public init(database: Database, stripe: StripeConnector?, logger: Logger,
                settleAfterSeconds: Double = PayoutsVendorJob.defaultSettleAfterSeconds) {
        self.database = database
        self.stripe = stripe
        self.logger = logger
        self.settleAfterSeconds = settleAfterSeconds
    }

    /// The tenant's payouts, newest first: those in `status` (all when nil), of `vendor` when given.
    public func list(tenant: UUID, status: String? = nil, vendor: UUID? = nil, limit: Int = 50) async throws -> [Record] {
        let logger = self.logger
        return try await database.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.columns) FROM payouts
                WHERE (\(status)::text IS NULL OR status = \(status)) AND (\(vendor)::uuid IS NULL OR vendor_id = \(vendor))
                ORDER BY created_at DESC, id LIMIT \(max(1, min(limit, 1_000)))
                """, logger: logger)
            return try await Self.records(rows)
        }
    }

    /// One payout of the tenant, nil when it has none with that id.
    public func find(tenant: UUID, payout: UUID) async throws -> Record? {
        let logger = self.logger
        return try await database.withTenant(tenant) { connection in
            let rows = try await connection.query("SELECT \(unescaped: Self.columns) FROM payouts WHERE id = \(payout)",
                                                  logger: logger)
            return try await Self.records(rows).first
        }
    }

    /// Settles a pending payout as `decision` says, after checking it against Stripe's record;
    /// `unrelated` names transfers of its amount to the vendor that the operator found are not it.
    /// - Returns: the payout as it is now.
    /// - Throws: ``PayoutSettlementRefusal`` when the payout or Stripe's record does not allow it
    ///   (nothing was changed); a ``ConnectorError`` when Stripe could not be read.
    public func settle(tenant: UUID, payout id: UUID, as decision: Decision, unrelated: [String] = [],
                       note: String? = nil) async throws -> Record {
        guard let stripe else { throw PayoutSettlementRefusal("the Stripe connector is not configured (stripe.secret_key)") }
        guard let payout = try await find(tenant: tenant, payout: id) else {
            throw PayoutSettlementRefusal("tenant \(Self.text(tenant)) has no payout \(Self.text(id))")
        }
        let key = Self.text(id)
        guard payout.status == "pending" else { throw PayoutSettlementRefusal(Self.notPending(payout)) }
        guard payout.ageSeconds >= settleAfterSeconds else {
            throw PayoutSettlementRefusal("payout \(key) has been pending for \(Self.hours(payout.ageSeconds)) h: a send may still "
                + "be running; `payouts.vendor` sends it until 23 h and settles it from Stripe's record itself at "
                + "\(Self.hours(settleAfterSeconds)) h; settle it by hand only if that leaves it pending")
        }
        let group = "payout_\(key)"
        // An hour's margin for the clocks (this process's against Stripe's), as the job allows.
        // When it was opened by PostgreSQL's clock, which its age is measured by; an hour's margin for Stripe's.
        let opened = Int(payout.createdAt.timeIntervalSince1970) - 3_600
        let inGroup = try await stripe.allTransfers(group: group)
        guard !inGroup.hasMore else {
            throw PayoutSettlementRefusal("Stripe's transfer group \(group) holds more than \(inGroup.data.count) transfers")
        }
        let live = inGroup.data.filter { !Self.whollyReversed($0) }
        let named: String?
        switch decision {
        case .paidBy(let transferID):
            let transfer = try await stripe.transfer(id: transferID)
            let wrong = Self.mismatches(transfer, payout: payout, tenant: tenant, group: group, opened: opened)
            guard wrong.isEmpty else {
                throw PayoutSettlementRefusal("transfer \(transferID) is not payout \(key): \(wrong.joined(separator: "; "))")
            }
            let others = live.filter { $0.id != transferID }
            guard others.isEmpty else {
                throw PayoutSettlementRefusal("Stripe's transfer group \(group) holds \(Self.describe(others)), made for this payout: "
                    + "if \(others.count == 1 ? "it is" : "one of them is") the payout, settle it with that; any that should not "
                    + "have been sent is reversed in Stripe first")
            }
            if let other = try await bookedElsewhere(transferID, tenant: tenant, payout: id) {
                throw PayoutSettlementRefusal("transfer \(transferID) is already booked as payout \(Self.text(other))")
            }
            named = transferID
        case .neverMade:
            guard live.isEmpty else {
                throw PayoutSettlementRefusal("Stripe's transfer group \(group) holds \(Self.describe(live)): the payout was made; "
                    + "if one of them is it, settle it with --transfer; any that should not have been sent is reversed in Stripe first")
            }
            named = nil
        }
        try await checkNothingElseAlike(payout, tenant: tenant, since: opened, apart: Set(unrelated + [named].compactMap { $0 }),
                                        stripe: stripe)
        let note = note.map { ": \($0)" } ?? ""
        let notIt = unrelated.isEmpty ? "" : "; not it: \(unrelated.joined(separator: ", "))"
        let pending = PendingPayout(id: payout.id, vendorID: payout.vendorID, amount: payout.amount,
                                    currency: payout.currency, destination: payout.destination)
        let book = PayoutBook(database: database, logger: logger)
        if let transferID = named {
            do {
                try await book.markPaid(pending, transferID: transferID, tenant: tenant, jobID: "operator:payouts-settle",
                                        memo: "Stripe transfer \(transferID), booked by an operator\(note)\(notIt)")
            } catch let error as PayoutError {
                throw PayoutSettlementRefusal("\(error)")
            } catch let failure where PostgresServerMessage(failure).message.contains("payouts_one_per_transfer") {
                throw PayoutSettlementRefusal("transfer \(transferID) is already booked as another payout")
            }
        } else {
            let reason = "never made, settled by an operator\(note): Stripe has no live transfer in group \(group)\(notIt); "
                + "its entries go into the next payout"
            _ = try await book.markFailed(pending, reason: reason, tenant: tenant)
        }
        guard let now = try await find(tenant: tenant, payout: id) else { throw PayoutSettlementRefusal("payout \(key) is gone") }
        // Settled meanwhile by another path (the job, the webhook, another operator): then this
        // settlement changed nothing, and says what did.
        guard now.status == (named == nil ? "failed" : "paid"), now.transferID == named,
              named != nil || now.failureReason?.contains("settled by an operator") == true else {
            throw PayoutSettlementRefusal("payout \(key) was settled by another path meanwhile: " + Self.notPending(now))
        }
        logger.notice("payout settled by an operator", metadata: [
            "payout_id": "\(key)", "tenant_id": "\(Self.text(tenant))", "status": "\(now.status)",
            "transfer_id": "\(named ?? "none")", "not_it": "\(unrelated.joined(separator: ","))"])
        return now
    }

    /// Why `transfer` cannot be `payout`'s, if it cannot.
    private static func mismatches(_ transfer: StripeTransfer, payout: Record, tenant: UUID, group: String,
                                   opened: Int) -> [String] {
        var wrong: [String] = []
        if Int64(transfer.money.minorUnits) != payout.amount || transfer.currency.uppercased() != payout.currency.uppercased() {
            wrong.append("it is \(transfer.money), the payout \(payout.money)")
        }
        if transfer.destination != payout.destination {
            wrong.append("it went to \(transfer.destination), the payout to \(payout.destination)")
        }
        if transfer.reversed || transfer.amountReversed > 0 {
            wrong.append("\(StripeAmount.money(transfer.amountReversed, currency: transfer.currency)) of it was reversed")
        }
        if let created = transfer.created, created < opened {
            wrong.append("it was made before the payout was opened")
        }
        if let other = transfer.transferGroup, other != group, other.hasPrefix("payout_") {
            wrong.append("it is in transfer group \(other)")
        }
        if let named = transfer.metadata["payout_id"], named.lowercased() != text(payout.id) {
            wrong.append("it was made for payout \(named)")
        }
        if let named = transfer.metadata["tenant_id"], named.lowercased() != text(tenant) {
            wrong.append("it was made for tenant \(named)")
        }
        return wrong
    }

    /// Refuses when a live transfer of the payout's amount and currency reached its destination
    /// since it was opened, other than those in `apart` and those booked as payouts of the tenant:
    /// the payout made by hand, or a second payment.
    private func checkNothingElseAlike(_ payout: Record, tenant: UUID, since opened: Int, apart: Set<String>,
                                       stripe: StripeConnector) async throws {
        let toVendor = try await stripe.allTransfers(destination: payout.destination, createdSince: opened)
        var alike = toVendor.data.filter {
            Int64($0.money.minorUnits) == payout.amount && $0.currency.uppercased() == payout.currency.uppercased()
                && !Self.whollyReversed($0) && !apart.contains($0.id) && $0.transferGroup != "payout_\(Self.text(payout.id))"
        }
        if !alike.isEmpty {
            let booked = try await self.booked(alike.map(\.id), tenant: tenant)
            alike.removeAll { booked.contains($0.id) }
        }
        guard alike.isEmpty, !toVendor.hasMore else {
            let seen = Self.describe(alike) + (toVendor.hasMore ? (alike.isEmpty ? "" : " and ") + "more than "
                + "\(toVendor.data.count) transfers not read" : "")
            throw PayoutSettlementRefusal("\(payout.destination) also received \(seen) since an hour before payout "
                + "\(Self.text(payout.id)) was opened: the payout made another way, or a second payment; if it paid something "
                + "else, name it with --not; a payment that should not have been made is reversed in Stripe first")
        }
    }

    /// Those of `transferIDs` booked as payouts of the tenant.
    private func booked(_ transferIDs: [String], tenant: UUID) async throws -> Set<String> {
        let logger = self.logger
        return try await database.withTenant(tenant) { connection in
            let rows = try await connection.query(
                "SELECT stripe_transfer_id FROM payouts WHERE stripe_transfer_id = ANY(\(transferIDs))", logger: logger)
            var found: Set<String> = []
            for try await id in rows.decode(String.self) { found.insert(id) }
            return found
        }
    }

    private static func notPending(_ payout: Record) -> String {
        let settled = payout.transferID.map { " with transfer \($0)" } ?? payout.failureReason.map { ": \($0)" } ?? ""
        return "payout \(text(payout.id)) is \(payout.status)\(settled): only a pending payout is settled"
    }

    /// All of its money came back: it paid nothing.
    private static func whollyReversed(_ transfer: StripeTransfer) -> Bool {
        transfer.reversed || transfer.amountReversed >= transfer.amount
    }

    private static func describe(_ transfers: [StripeTransfer]) -> String {
        transfers.map { "\($0.id) (\($0.money) to \($0.destination)" + ($0.amountReversed > 0 ? ", partly reversed)" : ")") }
            .joined(separator: ", ")
    }

    private static func hours(_ seconds: Double) -> String { String(format: "%.1f", seconds / 3600) }

    /// Another payout of the tenant booked with `transferID`.
    private func bookedElsewhere(_ transferID: String, tenant: UUID, payout: UUID) async throws -> UUID? {
        let logger = self.logger
        return try await database.withTenant(tenant) { connection in
            let rows = try await connection.query(
                "SELECT id FROM payouts WHERE stripe_transfer_id = \(transferID) AND id <> \(payout) LIMIT 1", logger: logger)
            for try await other in rows.decode(UUID.self) { return other }
            return nil
        }
    }

    private static let columns = """
        id, vendor_id, amount, currency, destination, status, stripe_transfer_id, failure_reason, created_at, settled_at,
        extract(epoch FROM clock_timestamp() - created_at)::float8
        """

    private static func records(_ rows: PostgresRowSequence) async throws -> [Record] {
        var found: [Record] = []
        for try await (id, vendor, amount, currency, destination, status, transfer, reason, created, settled, age)
            in rows.decode((UUID, UUID, Int64, String, String, String, String?, String?, Date, Date?, Double).self) {
            found.append(Record(id: id, vendorID: vendor, amount: amount, currency: currency, destination: destination,
                                status: status, transferID: transfer, failureReason: reason, createdAt: created,
                                settledAt: settled, ageSeconds: age))
        }
        return found
    }

    private static func text(_ id: UUID) -> String { id.uuidString.lowercased() }
}

/// A settlement the payout or Stripe's record does not allow; nothing was changed.
public struct PayoutSettlementRefusal: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
