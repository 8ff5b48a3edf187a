import Foundation
import Logging
import PostgresNIO
import Queue
import Store
import Connectors

/// A payout created and committed, waiting for (or resuming) its Stripe transfer.
public struct PendingPayout: Sendable, Equatable {
    public var id: UUID
    public var vendorID: UUID
    /// Minor units of `currency`; always > 0.
    public var amount: Int64
    /// ISO 4217, upper case as stored.
    public var currency: String
    /// The connected account, fixed when the payout was created so every retry sends the same request.
    public var destination: String
    /// How long the payout has been pending, in seconds (0 for one opened just now). Not part of
    /// its identity: the same payout found again later is equal to itself.
    public var ageSeconds: Double = 0
    /// When it was opened, seconds since the epoch by PostgreSQL's clock, which its age is measured
    /// by (nil for one opened just now). Not part of its identity either.
    public var openedAt: Double? = nil
    /// Left pending by an earlier attempt and resumed, rather than opened just now. Not part of
    /// its identity either.
    public var resumed = false

    public static func == (a: PendingPayout, b: PendingPayout) -> Bool {
        a.id == b.id && a.vendorID == b.vendorID && a.amount == b.amount && a.currency == b.currency
            && a.destination == b.destination
    }

    /// The Stripe idempotency key: the payout's id, so every attempt, in any process, is one transfer.
    public var idempotencyKey: String { id.uuidString.lowercased() }
}

/// The payout rows and their ledger entries, in three separate transactions (see ``PayoutsVendorJob``):
/// ``open(tenant:vendor:)`` creates or resumes, ``markPaid(_:transferID:tenant:jobID:)`` books
/// the transfer, ``markFailed(_:reason:tenant:)`` releases the entries.
struct PayoutBook {
    let database: Database
    let logger: Logger

    /// The vendor's pending payouts: the ones left by an earlier attempt (resumed as they are), or
    /// else new ones, one per currency whose payable balance reaches the vendor's minimum.
    ///
    /// Payable: ledger entries other than `payout`, older than the tenant's hold period
    /// (`tenants.settings.payouts.hold_days`, default 7), not claimed by a pending or paid payout;
    /// only for an active vendor of an active tenant with a connected account and `payouts_enabled`.
    /// The vendor's row is locked, so two concurrent runs for one vendor cannot both claim entries.
    func open(tenant: UUID, vendor: UUID) async throws -> [PendingPayout] {
        let logger = self.logger
        return try await database.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT status, stripe_account_id, payouts_enabled, minimum_payout_amount, minimum_payout_currency,
                       \(unescaped: Self.unreadableHoldSQL),
                       coalesce((SELECT t.status = 'active' FROM tenants t WHERE t.id = vendors.tenant_id), false)
                FROM vendors WHERE id = \(vendor) FOR UPDATE
                """, logger: logger)
            var vendorRow: (String, String?, Bool, Int64, String, String?, Bool)?
            for try await row in rows.decode((String, String?, Bool, Int64, String, String?, Bool).self) { vendorRow = row }
            guard let (status, account, enabled, minimum, minimumCurrency, unreadableHold, tenantActive) = vendorRow else {
                throw JobFailure.permanent("vendor \(vendor) does not exist in tenant \(tenant)")
            }
            if let unreadableHold {
                logger.warning("tenant setting payouts.hold_days is not a number of days (0 to 3650): the default hold of 7 days applies",
                               metadata: ["hold_days": "\(unreadableHold)"])
            }
            let pending = try await Self.pending(vendor: vendor, on: connection, logger: logger)
            if !pending.isEmpty { return pending }
            // No new payout for a suspended or deleted tenant's vendor (a pending one, above, settles).
            guard tenantActive, status == "active", enabled, let account, !account.isEmpty else { return [] }
            var opened: [PendingPayout] = []
            for (currency, total) in try await Self.payable(vendor: vendor, on: connection, logger: logger) {
                let floor = currency == minimumCurrency ? max(minimum, 1) : 1
                // What Stripe can take exactly; the rest is carried to the next payout.
                let sendable = total > 0 ? total - total % StripeAmount.step(ofMinorUnitsIn: currency) : total
                guard sendable >= floor else { continue }
                let payout = PendingPayout(id: UUID(), vendorID: vendor, amount: sendable, currency: currency, destination: account)
                try await Self.insert(payout, carrying: total - sendable, tenant: tenant, on: connection, logger: logger)
                opened.append(payout)
            }
            return opened
        }
    }

    private static func pending(vendor: UUID, on connection: PostgresConnection, logger: Logger) async throws -> [PendingPayout] {
        let rows = try await connection.query("""
            SELECT id, amount, currency, destination, extract(epoch FROM clock_timestamp() - created_at)::float8,
                   extract(epoch FROM created_at)::float8
            FROM payouts
            WHERE vendor_id = \(vendor) AND status = 'pending' ORDER BY created_at
            """, logger: logger)
        var found: [PendingPayout] = []
        for try await (id, amount, currency, destination, age, opened)
            in rows.decode((UUID, Int64, String, String, Double, Double).self) {
            found.append(PendingPayout(id: id, vendorID: vendor, amount: amount, currency: currency, destination: destination,
                                       ageSeconds: age, openedAt: opened, resumed: true))
        }
        return found
    }

    /// The predicate of a payable entry of `vendor` (entries aliased `e`); one text for the sum and the claim.
    /// Earnings and commissions wait out the tenant's hold; reversals (and carries, which only move a
    /// remainder from one payout to the next) count at once, since the hold
    /// is there to absorb refunds: a sale refunded inside it is never paid out. A hold that is not
    /// a number of days from 0 to 3650 (`"7d"`, `-1`) is read as the default, 7: before, the cast
    /// failed and stopped every payout of the tenant (`open` logs the setting).
    private static let payablePredicate = """
        e.vendor_id = $1 AND e.kind <> 'payout'
        AND (e.kind IN ('reversal', 'carry') OR e.occurred_at <= now() - make_interval(days => (
            SELECT \(holdDaysSQL) FROM tenants WHERE id = e.tenant_id)))
        AND NOT EXISTS (
            SELECT 1 FROM payout_items i JOIN payouts p ON p.tenant_id = i.tenant_id AND p.id = i.payout_id
            WHERE i.tenant_id = e.tenant_id AND i.entry_id = e.id AND p.status IN ('pending', 'paid'))
        """

    /// The tenant's `payouts.hold_days` as written, from `tenants.settings`.
    private static let holdText = "(settings -> 'payouts' ->> 'hold_days')"

    /// The hold in whole days (a fraction rounds up) when the setting is a number of days from 0 to
    /// 3650, else NULL. Nested CASEs: PostgreSQL does not promise to test an AND's sides in order,
    /// and `'7d'::numeric` must never be tried.
    private static let readableHoldSQL = """
        CASE WHEN \(holdText) ~ '^[0-9]{1,4}(\\.[0-9]+)?$'
             THEN CASE WHEN \(holdText)::numeric <= 3650 THEN ceil(\(holdText)::numeric)::int END END
        """

    /// The hold applied: the setting when readable, else the default, 7 days.
    private static let holdDaysSQL = "coalesce(\(readableHoldSQL), 7)"

    /// The setting as written when it is there but not readable (for a warning), else NULL.
    private static let unreadableHoldSQL = """
        (SELECT \(holdText) FROM tenants WHERE id = vendors.tenant_id
         AND settings -> 'payouts' -> 'hold_days' IS NOT NULL AND \(readableHoldSQL) IS NULL)
        """

    private static func payable(vendor: UUID, on connection: PostgresConnection, logger: Logger) async throws -> [(String, Int64)] {
        var binds = PostgresBindings()
        binds.append(vendor)
        let rows = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT e.currency, sum(e.amount)::bigint FROM vendor_ledger_entries e
            WHERE \(payablePredicate) GROUP BY e.currency ORDER BY e.currency
            """, binds: binds), logger: logger)
        var totals: [(String, Int64)] = []
        for try await row in rows.decode((String, Int64).self) { totals.append(row) }
        return totals
    }

    /// Inserts the payout and claims its entries, then checks the claimed entries sum to its amount.
    /// A `remainder` Stripe cannot take is carried (migration 0014): a `carry` entry of −remainder is
    /// claimed with the others, and one of +remainder, written after the claim, stays payable.
    private static func insert(_ payout: PendingPayout, carrying remainder: Int64, tenant: UUID,
                               on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO payouts (tenant_id, id, vendor_id, amount, currency, destination)
            VALUES (\(tenant), \(payout.id), \(payout.vendorID), \(payout.amount), \(payout.currency), \(payout.destination))
            """, logger: logger)
        let carryJob = "payout-carry:\(payout.idempotencyKey)"
        let memo = "below Stripe's step for \(payout.currency): carried from payout \(payout.idempotencyKey) to the next"
        func carry(_ amount: Int64) async throws {
            try await connection.query("""
                INSERT INTO vendor_ledger_entries (tenant_id, vendor_id, kind, amount, currency, occurred_at, job_id, memo)
                VALUES (\(tenant), \(payout.vendorID), 'carry', \(amount), \(payout.currency), now(), \(carryJob), \(memo))
                """, logger: logger)
        }
        if remainder != 0 { try await carry(-remainder) }
        var binds = PostgresBindings()
        binds.append(payout.vendorID)
        binds.append(payout.id)
        binds.append(payout.currency)
        try await connection.query(PostgresQuery(unsafeSQL: """
            INSERT INTO payout_items (tenant_id, payout_id, entry_id)
            SELECT e.tenant_id, $2, e.id FROM vendor_ledger_entries e
            WHERE \(payablePredicate) AND e.currency = $3
            """, binds: binds), logger: logger)
        let check = try await connection.query("""
            SELECT coalesce(sum(e.amount), 0)::bigint FROM payout_items i
            JOIN vendor_ledger_entries e ON e.tenant_id = i.tenant_id AND e.id = i.entry_id
            WHERE i.payout_id = \(payout.id)
            """, logger: logger)
        for try await claimed in check.decode(Int64.self) where claimed != payout.amount {
            throw PayoutError.claimMismatch(payout: payout.id, amount: payout.amount, claimed: claimed)
        }
        if remainder != 0 { try await carry(remainder) }
    }

    /// How long `payout` has been pending, read now; nil when it is pending no longer (another run
    /// or the `transfer.*` webhook settled it).
    func pendingAge(_ payout: PendingPayout, tenant: UUID) async throws -> Double? {
        let logger = self.logger
        return try await database.withTenant(tenant) { connection -> Double? in
            let rows = try await connection.query("""
                SELECT extract(epoch FROM clock_timestamp() - created_at)::float8 FROM payouts
                WHERE id = \(payout.id) AND status = 'pending'
                """, logger: logger)
            for try await age in rows.decode(Double.self) { return age }
            return nil
        }
    }

    /// Books a transfer: the payout becomes `paid` with its transfer id and the ledger gets its
    /// `payout` entry, in one transaction through the execution ledger keyed by the payout, so a
    /// redelivery after this commit books nothing twice. `memo` is the ledger entry's (by default
    /// "Stripe transfer <id>").
    func markPaid(_ payout: PendingPayout, transferID: String, tenant: UUID, jobID: String, memo: String? = nil) async throws {
        let logger = self.logger
        try await ExecutionLedger(database: database).runOnce(
            jobID: "payout-paid:\(payout.idempotencyKey)", kind: PayoutsVendorJob.kind, tenant: tenant
        ) { connection in
            let updated = try await connection.query("""
                UPDATE payouts SET status = 'paid', stripe_transfer_id = \(transferID), settled_at = now()
                WHERE id = \(payout.id) AND status = 'pending' RETURNING id
                """, logger: logger)
            var found = false
            for try await _ in updated { found = true }
            guard found else { throw PayoutError.notPending(payout.id) }
            try await connection.query("""
                INSERT INTO vendor_ledger_entries (tenant_id, vendor_id, kind, amount, currency, payout_id, occurred_at, job_id, memo)
                VALUES (\(tenant), \(payout.vendorID), 'payout', \(-payout.amount), \(payout.currency), \(payout.id), now(), \(jobID),
                        \(memo ?? "Stripe transfer " + transferID))
                """, logger: logger)
        }
    }

    /// A transfer Stripe refused for good: the payout becomes `failed` with the reason, and since
    /// only pending and paid payouts hold their entries, the entries are payable again. False when
    /// the payout was pending no longer (settled by another path), and nothing changed.
    @discardableResult
    func markFailed(_ payout: PendingPayout, reason: String, tenant: UUID) async throws -> Bool {
        let logger = self.logger
        return try await database.withTenant(tenant) { connection in
            let rows = try await connection.query("""
                UPDATE payouts SET status = 'failed', failure_reason = \(reason), settled_at = now()
                WHERE id = \(payout.id) AND status = 'pending' RETURNING id
                """, logger: logger)
            var updated = false
            for try await _ in rows { updated = true }
            return updated
        }
    }
}

/// Payout states that must not happen; each stops the job for an operator to look at.
enum PayoutError: Error, CustomStringConvertible {
    case claimMismatch(payout: UUID, amount: Int64, claimed: Int64)
    case notPending(UUID)
    case amountMismatch(payout: UUID, expected: Int64, transferred: Int)

    var description: String {
        switch self {
        case .claimMismatch(let payout, let amount, let claimed):
            return "payout \(payout): claimed entries sum to \(claimed), not \(amount); nothing committed"
        case .notPending(let payout):
            return "payout \(payout) is no longer pending (failed or paid by another path); not booked again"
        case .amountMismatch(let payout, let expected, let transferred):
            return "payout \(payout): Stripe transferred \(transferred), the payout is \(expected); left pending for an operator"
        }
    }
}
