import Connectors
import Foundation
@testable import Jobs
import XCTest

/// Fixtures shared by the payout tests: a vendor with a balance, a payout left pending long ago,
/// a transfer made outside the job.
protocol PayoutFixtures {}

extension PayoutFixtures {
    /// A tenant with no hold, a 10 % default rule, and a vendor who sold `lines` (quantity, unit amount).
    func vendorWithSales(_ world: MoneyWorld, account: MoneyWorld.Account = .connected, minimum: Int64 = 0,
                         holdDays: Int = 0, placedDaysAgo: Int = 10, lines: [(Int, Int64)] = [(3, 3_333)])
        async throws -> (tenant: UUID, vendor: UUID, account: String?) {
        let tenant = try await world.makeTenant(holdDays: holdDays)
        let (vendor, accountID) = try await world.makeVendor(tenant, account: account, minimum: minimum)
        try await world.setRule(tenant, basisPoints: 1_000)
        let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(daysAgo: placedDaysAgo),
                                                       lines: lines.map { .init(vendorID: vendor, quantity: $0.0, unitAmount: $0.1) })
        try await world.run(world.calculate, .init(order: order), tenant: tenant)
        return (tenant, vendor, accountID)
    }

    /// A payout left pending by an earlier attempt `hoursAgo` (by default two days: past Stripe's
    /// idempotency window and old enough to settle from Stripe's record), and the job as shipped.
    func expiredPayout(_ world: MoneyWorld, tenant: UUID, vendor: UUID,
                       hoursAgo: Double = 48) async throws -> (PendingPayout, PayoutsVendorJob) {
        let book = PayoutBook(database: world.app, logger: MoneyWorld.logger)
        let opened = try await book.open(tenant: tenant, vendor: vendor)
        let pending = try XCTUnwrap(opened.first)
        // As the schema owner (the platform's role may not change when a payout was opened), with
        // row-level security, which binds the owner too and has no policy for it, lifted for this
        // one transaction.
        let moved = try await world.admin.withoutTenant { connection -> Int in
            try await connection.query("ALTER TABLE payouts NO FORCE ROW LEVEL SECURITY", logger: MoneyWorld.logger)
            let rows = try await connection.query("""
                UPDATE payouts SET created_at = now() - make_interval(secs => \(hoursAgo * 3600)) WHERE id = \(pending.id)
                RETURNING id
                """, logger: MoneyWorld.logger)
            var count = 0
            for try await _ in rows { count += 1 }
            try await connection.query("ALTER TABLE payouts FORCE ROW LEVEL SECURITY", logger: MoneyWorld.logger)
            return count
        }
        XCTAssertEqual(moved, 1, "the payout backdated")
        return (pending, world.payVendor)
    }

    /// A transfer of `payout`'s currency to its destination made outside the job (`less` below its
    /// amount), in `group` if given: what a crashed send, or an operator, leaves in Stripe.
    func transfer(for payout: PendingPayout, less: Int = 0, group: String? = nil, key: String = UUID().uuidString,
                  _ world: MoneyWorld) async throws -> StripeTransfer {
        try await world.connectors.stripe.createTransfer(
            amount: Money(minorUnits: Int(payout.amount) - less, currency: payout.currency), destination: payout.destination,
            transferGroup: group, idempotencyKey: key)
    }
}
