import CityOSTesting
import Foundation
@testable import Jobs
import PostgresNIO
import Queue
import Synchronization
import XCTest

/// `commission.calculate` and `commission.reverse` against the real PostgreSQL.
final class CommissionLedgerTests: XCTestCase {
    func testAThreeVendorOrderWithOddAmountsBalancesToTheCent() async throws {
        try await MoneyWorld.run { world in
            let tenant = try await world.makeTenant()
            let (a, _) = try await world.makeVendor(tenant)
            let (b, _) = try await world.makeVendor(tenant)
            let (c, _) = try await world.makeVendor(tenant)
            try await world.setRule(tenant, basisPoints: 1_250)                       // default 12.5 %
            try await world.setRule(tenant, vendor: b, basisPoints: 333, flat: 7)     // 3.33 % + 0.07 per line
            try await world.setRule(tenant, vendor: c, basisPoints: 1_999)
            let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(), lines: [
                .init(vendorID: a, quantity: 3, unitAmount: 3_333),   // 3 × 33.33
                .init(vendorID: a, quantity: 1, unitAmount: 1),
                .init(vendorID: b, quantity: 7, unitAmount: 1_429),
                .init(vendorID: c, quantity: 3, unitAmount: 3_333),
                .init(vendorID: c, quantity: 1, unitAmount: 5),
            ])
            try await world.run(world.calculate, .init(order: order), tenant: tenant)

            let lineTotals: Int64 = 9_999 + 1 + 10_003 + 9_999 + 5
            let orderID = order.id.uuidString.lowercased()
            let earnings = try await world.sum(tenant, "order_id = '\(orderID)' AND kind = 'earning'")
            let commissions = -(try await world.sum(tenant, "order_id = '\(orderID)' AND kind = 'commission'"))
            let vendorNet = try await world.sum(tenant, "order_id = '\(orderID)'")
            XCTAssertEqual(earnings, lineTotals, "gross earnings are the line totals")
            XCTAssertEqual(commissions + vendorNet, lineTotals, "commissions + vendor earnings = line totals, to the cent")
            // Per line, by the rules: a 12.5 % of 99.99 = 12.49875 → 12.50; of 0.01 → 0.00;
            // b 3.33 % of 100.03 = 3.330999 → 3.33 + 0.07; c 19.99 % of 99.99 = 19.988001 → 19.99; of 0.05 → 0.01.
            let balanceA = try await world.balance(tenant, vendor: a)
            let balanceB = try await world.balance(tenant, vendor: b)
            let balanceC = try await world.balance(tenant, vendor: c)
            XCTAssertEqual(balanceA, 9_999 - 1_250 + 1 - 0)
            XCTAssertEqual(balanceB, 10_003 - 333 - 7)
            XCTAssertEqual(balanceC, 9_999 - 1_999 + 5 - 1)
        }
    }

    /// An order whose line would not fit an order line's quantity column, or whose total would let
    /// a vendor's sums near 64 bits, fails for good with a reason, before anything is stored: else
    /// each retry failed in PostgreSQL, or the vendor's later orders and payouts did.
    func testAnOrderTooLargeToBookIsRefusedWithItsReason() throws {
        let vendor = UUID()
        func refusal(_ lines: [CommissionCalculateJob.PlacedOrder.Line]) -> String? {
            let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(), lines: lines)
            do {
                try CommissionCalculateJob.validate(order)
                return nil
            } catch JobFailure.permanent(let reason) {
                return reason
            } catch {
                return "\(error)"
            }
        }
        let quantity = refusal([.init(vendorID: vendor, quantity: Int(Int32.max) + 1, unitAmount: 0)])
        XCTAssertTrue(quantity?.contains("quantity 2147483648") == true, quantity ?? "accepted")
        let total = refusal([.init(vendorID: vendor, quantity: 2, unitAmount: CommissionCalculateJob.maxOrderTotal / 2 + 1)])
        XCTAssertTrue(total?.contains("the most an order may") == true, total ?? "accepted")
        let overflowing = refusal([.init(vendorID: vendor, quantity: 3, unitAmount: .max / 2)])
        XCTAssertTrue(overflowing?.contains("the most an order may") == true, overflowing ?? "accepted")
        XCTAssertNil(refusal([.init(vendorID: vendor, quantity: 1, unitAmount: CommissionCalculateJob.maxOrderTotal)]))
    }

    func testARedeliveredOrAnotherJobForTheSameOrderBooksNothingTwice() async throws {
        try await MoneyWorld.run { world in
            let tenant = try await world.makeTenant()
            let (vendor, _) = try await world.makeVendor(tenant)
            try await world.setRule(tenant, basisPoints: 1_000)
            let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(),
                                                           lines: [.init(vendorID: vendor, quantity: 2, unitAmount: 1_050)])
            let jobID = JobID.make()
            try await world.run(world.calculate, .init(order: order), tenant: tenant, id: jobID)
            try await world.run(world.calculate, .init(order: order), tenant: tenant, id: jobID)   // redelivery
            try await world.run(world.calculate, .init(order: order), tenant: tenant)              // a second event
            let balance = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(balance, 2_100 - 210)
        }
    }

    func testTiersFollowTheVendorsSalesThisMonth() async throws {
        try await MoneyWorld.run { world in
            let tenant = try await world.makeTenant()
            let (vendor, _) = try await world.makeVendor(tenant)
            try await world.setRule(tenant, basisPoints: 2_000, tiers: [(10_000, 1_000)])
            let first = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: "2026-11-02T10:00:00Z",
                                                           lines: [.init(vendorID: vendor, quantity: 1, unitAmount: 10_000)])
            let second = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: "2026-11-03T10:00:00Z",
                                                            lines: [.init(vendorID: vendor, quantity: 1, unitAmount: 10_000)])
            try await world.run(world.calculate, .init(order: first), tenant: tenant)
            try await world.run(world.calculate, .init(order: second), tenant: tenant)
            let firstCommission = try await world.sum(tenant, "order_id = '\(first.id.uuidString.lowercased())' AND kind = 'commission'")
            let secondCommission = try await world.sum(tenant, "order_id = '\(second.id.uuidString.lowercased())' AND kind = 'commission'")
            XCTAssertEqual(firstCommission, -2_000, "no sales yet this month: 20 %")
            XCTAssertEqual(secondCommission, -1_000, "100.00 sold this month: the 10 % tier")
        }
    }

    /// A tier's threshold is an amount in its currency: 100.00 USD of sales reaches the USD tier
    /// for a USD order, and not for a JPY order, however many yen the vendor sold; a tier without a
    /// currency (written before tiers had one) applies in every currency, as it did.
    func testATiersThresholdCountsInItsOwnCurrencyOnly() async throws {
        try await MoneyWorld.run { world in
            let tenant = try await world.makeTenant()
            let (vendor, _) = try await world.makeVendor(tenant)
            try await world.setRule(tenant, basisPoints: 2_000, tiers: [(10_000, 1_000)], tierCurrency: "USD")
            func order(_ currency: String, day: Int, amount: Int64) -> CommissionCalculateJob.PlacedOrder {
                .init(currency: currency, placedAt: "2026-11-0\(day)T10:00:00Z", lines: [.init(vendorID: vendor, quantity: 1, unitAmount: amount)])
            }
            func commission(_ placed: CommissionCalculateJob.PlacedOrder) async throws -> Int64 {
                try await world.sum(tenant, "order_id = '\(placed.id.uuidString.lowercased())' AND kind = 'commission'")
            }
            let yen = [order("JPY", day: 1, amount: 50_000), order("JPY", day: 2, amount: 10_000)]
            let dollars = [order("USD", day: 3, amount: 10_000), order("USD", day: 4, amount: 10_000)]
            for placed in yen + dollars { try await world.run(world.calculate, .init(order: placed), tenant: tenant) }
            let yenRates = try await [commission(yen[0]), commission(yen[1])]
            XCTAssertEqual(yenRates, [-10_000, -2_000], "¥50,000 sold is not 500.00 USD: 20 % both times")
            let dollarRates = try await [commission(dollars[0]), commission(dollars[1])]
            XCTAssertEqual(dollarRates, [-2_000, -1_000], "100.00 USD sold: the USD tier's 10 %")

            let other = try await world.makeTenant()
            let (seller, _) = try await world.makeVendor(other)
            try await world.setRule(other, basisPoints: 2_000, tiers: [(10_000, 1_000)], tierCurrency: nil)
            let legacy = [CommissionCalculateJob.PlacedOrder(currency: "JPY", placedAt: "2026-11-01T10:00:00Z",
                                                             lines: [.init(vendorID: seller, quantity: 1, unitAmount: 50_000)]),
                          CommissionCalculateJob.PlacedOrder(currency: "JPY", placedAt: "2026-11-02T10:00:00Z",
                                                             lines: [.init(vendorID: seller, quantity: 1, unitAmount: 10_000)])]
            for placed in legacy { try await world.run(world.calculate, .init(order: placed), tenant: other) }
            let legacyRate = try await world.sum(other, "order_id = '\(legacy[1].id.uuidString.lowercased())' AND kind = 'commission'")
            XCTAssertEqual(legacyRate, -1_000, "a tier without a currency applies in every currency, as before")

            // A tier in the order's currency wins over one without at the same threshold.
            let rule = CommissionRules.StoredRule(
                id: UUID(), rule: CommissionRule(basisPoints: 2_000), flatCurrency: nil,
                tiers: [(.init(minimumMonthlySales: 10_000, basisPoints: 1_500), nil),
                        (.init(minimumMonthlySales: 10_000, basisPoints: 500), "USD")])
            XCTAssertEqual(rule.applying(currency: "usd").basisPoints(monthlySales: 10_000), 500)
            XCTAssertEqual(rule.applying(currency: "EUR").basisPoints(monthlySales: 10_000), 1_500)
        }
    }

    func testARefundAppendsReversalsThatCancelTheLineAndEditNothing() async throws {
        try await MoneyWorld.run { world in
            let tenant = try await world.makeTenant()
            let (vendor, _) = try await world.makeVendor(tenant)
            try await world.setRule(tenant, basisPoints: 1_500)
            let kept = CommissionCalculateJob.PlacedOrder.Line(vendorID: vendor, quantity: 1, unitAmount: 2_000)
            let refunded = CommissionCalculateJob.PlacedOrder.Line(vendorID: vendor, quantity: 3, unitAmount: 3_333)
            let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(), lines: [kept, refunded])
            try await world.run(world.calculate, .init(order: order), tenant: tenant)
            let reverseID = JobID.make()
            let args = CommissionReverseJob.Arguments(orderID: order.id, lineIDs: [refunded.id], reason: .refund)
            try await world.run(world.reverse, args, tenant: tenant, id: reverseID)
            try await world.run(world.reverse, args, tenant: tenant, id: reverseID)
            try await world.run(world.reverse, args, tenant: tenant)
            let balance = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(balance, 2_000 - 300, "only the kept line remains")
            let reversals = try await world.sum(tenant, "kind = 'reversal'")
            XCTAssertEqual(reversals, -(9_999 - 1_500), "one reversal per entry, however often the refund arrives")
            let entries = try await world.sum(tenant, "kind IN ('earning', 'commission')")
            XCTAssertEqual(entries, 2_000 - 300 + 9_999 - 1_500, "the original entries are untouched")

            try await world.run(world.reverse, .init(orderID: order.id, reason: .cancellation), tenant: tenant)
            let afterCancel = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(afterCancel, 0)
        }
    }

    /// A refund delivered before its order was booked (order.placed late): kept, not retried until
    /// it dies, and applied when the order is booked, so the refunded sale is never paid out.
    func testARefundBeforeItsOrderIsKeptAndAppliedWhenTheOrderIsBooked() async throws {
        try await MoneyWorld.run { world in
            let tenant = try await world.makeTenant()
            let (vendor, account) = try await world.makeVendor(tenant)
            try await world.setRule(tenant, basisPoints: 1_000)
            let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(daysAgo: 10),
                                                           lines: [.init(vendorID: vendor, quantity: 3, unitAmount: 3_333)])
            let refundID = JobID.make()
            try await world.run(world.reverse, .init(orderID: order.id, reason: .refund), tenant: tenant, id: refundID)
            try await world.run(world.reverse, .init(orderID: order.id, reason: .refund), tenant: tenant, id: refundID)
            func kept(_ tenant: UUID) async throws -> Int64 {
                try await world.app.withTenant(tenant) { connection in
                    var count: Int64 = 0
                    for try await n in try await connection.query("SELECT count(*) FROM early_reversals", logger: MoneyWorld.logger)
                        .decode(Int64.self) { count = n }
                    return count
                }
            }
            let waiting = try await kept(tenant)
            XCTAssertEqual(waiting, 1, "kept once, however often it is delivered")
            let stranger = try await world.makeTenant()
            let seenByAnother = try await kept(stranger)
            XCTAssertEqual(seenByAnother, 0, "another tenant does not see it (row-level security)")

            try await world.run(world.calculate, .init(order: order), tenant: tenant)
            let balance = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(balance, 0, "booked and reversed in one step")
            let reversals = try await world.sum(tenant, "kind = 'reversal'")
            XCTAssertEqual(reversals, -(9_999 - 1_000))
            let left = try await kept(tenant)
            XCTAssertEqual(left, 0, "applied once, then gone")
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertTrue(transfers.isEmpty, "the refunded sale is not paid out: \(transfers)")
        }
    }

    /// A reversal that finds no order because the order's booking has inserted it but not yet
    /// committed, and keeps itself as early after the booking looked for early reversals, was lost:
    /// the vendor was paid for a canceled order. The two now wait for each other (a lock per order).
    /// A trigger holds the reversal's transaction right after its UPDATE found no order, at a gate
    /// the test holds, while the booking runs.
    func testAReversalRacingItsOrdersBookingIsAppliedNotLost() async throws {
        try await MoneyWorld.run { world in
            let tenant = try await world.makeTenant()
            let (vendor, _) = try await world.makeVendor(tenant)
            try await world.setRule(tenant, basisPoints: 1_000)
            let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(daysAgo: 10),
                                                           lines: [.init(vendorID: vendor, quantity: 1, unitAmount: 5_000)])
            let gate: Int64 = 7_246_001
            func admin(_ sql: String) async throws {
                try await world.admin.withoutTenant { connection in
                    _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: MoneyWorld.logger)
                }
            }
            try await admin("""
                CREATE OR REPLACE FUNCTION test_gate_early_reversal() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_advisory_xact_lock(\(gate)); RETURN NEW; END $$
                """)
            try await admin("""
                CREATE TRIGGER test_gate_early_reversal BEFORE INSERT ON early_reversals
                    FOR EACH ROW EXECUTE FUNCTION test_gate_early_reversal()
                """)
            func removeTrigger() async throws {
                try await admin("DROP TRIGGER IF EXISTS test_gate_early_reversal ON early_reversals")
                try await admin("DROP FUNCTION IF EXISTS test_gate_early_reversal()")
            }
            do {
                try await world.admin.client.withConnection { holder in
                    _ = try await holder.query("SELECT pg_advisory_lock(\(gate))", logger: MoneyWorld.logger)
                    func waiters() async throws -> Int64 {
                        var count: Int64 = 0
                        let rows = try await holder.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                                                          logger: MoneyWorld.logger)
                        for try await n in rows.decode(Int64.self) { count = n }
                        return count
                    }
                    let reversal = Task { try await world.run(world.reverse, .init(orderID: order.id, reason: .cancellation), tenant: tenant) }
                    try await eventually("the reversal to wait at the gate, its order not found") { try await waiters() == 1 }
                    let booked = Flag()
                    let booking = Task {
                        try await world.run(world.calculate, .init(order: order), tenant: tenant)
                        booked.set()
                    }
                    // Fixed, the booking waits for the reversal's transaction; before, it finished at once.
                    try await eventually("the booking to finish or wait for the reversal") {
                        if booked.isSet { return true }
                        return try await waiters() == 2
                    }
                    _ = try await holder.query("SELECT pg_advisory_unlock(\(gate))", logger: MoneyWorld.logger)
                    try await reversal.value
                    try await booking.value
                }
            } catch {
                try? await removeTrigger()
                throw error
            }
            try await removeTrigger()
            let balance = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(balance, 0, "the cancellation was applied: nothing is owed to the vendor")
            let reversals = try await world.sum(tenant, "kind = 'reversal'")
            XCTAssertEqual(reversals, -(5_000 - 500))
        }
    }

    func testTheApplicationCannotEditOrDeleteLedgerEntries() async throws {
        try await MoneyWorld.run { world in
            let tenant = try await world.makeTenant()
            let (vendor, _) = try await world.makeVendor(tenant)
            try await world.setRule(tenant, basisPoints: 1_000)
            let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(),
                                                           lines: [.init(vendorID: vendor, quantity: 1, unitAmount: 100)])
            try await world.run(world.calculate, .init(order: order), tenant: tenant)
            for statement in ["UPDATE vendor_ledger_entries SET amount = 0", "DELETE FROM vendor_ledger_entries"] {
                do {
                    try await world.app.withTenant(tenant) { connection in
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: MoneyWorld.logger)
                    }
                    XCTFail("\(statement) must be refused")
                } catch {
                    XCTAssertEqual((error as? PSQLError)?.serverInfo?[.sqlState], "42501", "permission denied: \(String(reflecting: error))")
                }
            }
            let otherTenant = try await world.makeTenant()
            let seen = try await world.sum(otherTenant, "true")
            XCTAssertEqual(seen, 0, "another tenant sees none of these entries")
        }
    }
}

/// Set once, read from anywhere.
private final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
