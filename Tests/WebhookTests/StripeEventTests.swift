import CityOSTesting
import Foundation
@testable import Jobs
import PostgresNIO
import XCTest

/// Stripe's `account.updated`, `charge.refunded` and `transfer.*` through the real ingress and workers.
final class StripeEventTests: XCTestCase {
    static func event(_ type: String, object: [String: Any], created: Int = Int(Date().timeIntervalSince1970),
                      tenant: UUID? = nil) -> [String: Any] {
        var body: [String: Any] = ["id": "evt_" + UUID().uuidString, "object": "event", "type": type, "created": created,
                                   "data": ["object": object]]
        if let tenant { body["tenant_id"] = tenant.uuidString.lowercased() }
        return body
    }

    func testAccountUpdatedSetsWhetherTheVendorCanBePaidAndALateEventChangesNothing() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let account = "acct_" + UUID().uuidString.prefix(12).lowercased()
            let vendor = try await world.makeVendor(tenant, account: account, payoutsEnabled: false)
            let enabled = Self.event("account.updated", object: ["id": account, "object": "account", "payouts_enabled": true],
                                     created: 1_900_000_100)
            let stale = Self.event("account.updated", object: ["id": account, "object": "account", "payouts_enabled": false],
                                   created: 1_900_000_000)
            // No tenant in either event: the vendor is found by its account.
            try await world.post(.stripe, enabled)
            try await world.settled("stripe", try XCTUnwrap(enabled["id"] as? String), as: "processed")
            try await world.post(.stripe, stale)
            try await world.settled("stripe", try XCTUnwrap(stale["id"] as? String), as: "ignored")
            let flags = try await world.values(tenant, "SELECT payouts_enabled FROM vendors WHERE id = '\(vendor.uuidString.lowercased())'",
                                               as: Bool.self)
            XCTAssertEqual(flags, [true])
        }
    }

    /// Payouts enabled with the `transfers` capability not active (an account under review): a
    /// transfer to it would be refused, so the vendor is not payable; the capability active again,
    /// it is. Of two events in one second, what Stripe says now decides, both flags read.
    func testAVendorWhoseAccountCannotReceiveTransfersIsNotPayableEvenWithPayoutsEnabled() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let account = "acct_" + UUID().uuidString.prefix(12).lowercased()
            let vendor = try await world.makeVendor(tenant, account: account, payoutsEnabled: true)
            func payable() async throws -> [Bool] {
                try await world.values(tenant, "SELECT payouts_enabled FROM vendors WHERE id = '\(vendor.uuidString.lowercased())'",
                                       as: Bool.self)
            }
            func update(transfers: String, created: Int) async throws {
                let event = Self.event("account.updated", object: [
                    "id": account, "object": "account", "payouts_enabled": true, "capabilities": ["transfers": transfers]],
                                       created: created)
                try await world.post(.stripe, event)
                try await world.settled("stripe", try XCTUnwrap(event["id"] as? String), as: "processed")
            }
            try await update(transfers: "inactive", created: 1_900_000_000)
            var flags = try await payable()
            XCTAssertEqual(flags, [false], "no transfer can reach it")
            try await update(transfers: "active", created: 1_900_000_100)
            flags = try await payable()
            XCTAssertEqual(flags, [true])
            // Capabilities named, `transfers` not among them: the account has not that capability.
            let cardsOnly = Self.event("account.updated", object: [
                "id": account, "object": "account", "payouts_enabled": true, "capabilities": ["card_payments": "active"]],
                                       created: 1_900_000_050 + 100)
            try await world.post(.stripe, cardsOnly)
            try await world.settled("stripe", try XCTUnwrap(cardsOnly["id"] as? String), as: "processed")
            flags = try await payable()
            XCTAssertEqual(flags, [false], "no transfers capability named")
            try await update(transfers: "active", created: 1_900_000_200)
            flags = try await payable()
            XCTAssertEqual(flags, [true])

            // A tie, settled by Stripe's account now: payouts enabled, transfers pending.
            _ = try await world.sandbox("POST", "/_sandbox/stripe/accounts/\(account)", ["payouts_enabled": true, "transfers": "pending"])
            try await update(transfers: "active", created: 1_900_000_200)
            flags = try await payable()
            XCTAssertEqual(flags, [false], "Stripe says the transfers capability is pending")
        }
    }

    /// Stripe stamps events in whole seconds, and onboarding sends several `account.updated`
    /// within one: of two that tie, the second is settled by the account as Stripe has it now.
    func testAccountUpdatedEventsOfOneSecondEndWithTheAccountsStateInEitherOrder() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let second = 1_900_000_000
            // In order: "not yet" then "ready", both in one second; Stripe now says ready.
            let inOrder = "acct_" + UUID().uuidString.prefix(12).lowercased()
            let first = try await world.makeVendor(tenant, account: inOrder, payoutsEnabled: false)
            _ = try await world.sandbox("POST", "/_sandbox/stripe/accounts/\(inOrder)", ["payouts_enabled": true])
            // Out of order: "ready" arrives before the "not yet" that preceded it; Stripe says ready.
            let outOfOrder = "acct_" + UUID().uuidString.prefix(12).lowercased()
            let other = try await world.makeVendor(tenant, account: outOfOrder, payoutsEnabled: false)
            _ = try await world.sandbox("POST", "/_sandbox/stripe/accounts/\(outOfOrder)", ["payouts_enabled": true])
            for (account, states) in [(inOrder, [false, true]), (outOfOrder, [true, false])] {
                for enabled in states {
                    let event = Self.event("account.updated", object: ["id": account, "object": "account",
                                                                      "payouts_enabled": enabled], created: second)
                    try await world.post(.stripe, event)
                    try await world.settled("stripe", try XCTUnwrap(event["id"] as? String), as: "processed")
                }
            }
            for vendor in [first, other] {
                let flags = try await world.values(
                    tenant, "SELECT payouts_enabled FROM vendors WHERE id = '\(vendor.uuidString.lowercased())'", as: Bool.self)
                XCTAssertEqual(flags, [true], "vendor \(vendor) should end with the account's state")
            }
            // Stripe was asked only for the two ties, not for the events that were newer.
            let calls = try await world.sandbox("GET", "/_sandbox/calls")["calls"] as? [String: Any] ?? [:]
            XCTAssertEqual((calls["GET /stripe/v1/accounts/{id}"] as? [String: Any])?["count"] as? Int, 2,
                           "calls: \(calls.keys.sorted())")
        }
    }

    /// A booked Medusa order of 2500 (one vendor, no delivery) and the Stripe charge that paid for it,
    /// `refunded` of it given back (all of it: `refunded: true`), naming no lines.
    private static func refundedOrderOf2500(_ world: DispatchWorld, refunded: Int) async throws
        -> (tenant: UUID, order: String, charge: [String: Any]) {
        let tenant = try await world.makeTenant()
        let vendor = try await world.makeVendor(tenant)
        let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor, delivery: false)
        try await world.handleOrderPlaced(order, tenant: tenant)
        let charge: [String: Any] = ["id": "ch_" + UUID().uuidString.prefix(8), "object": "charge", "amount": 2500,
                                     "amount_refunded": refunded, "refunded": refunded == 2500,
                                     "metadata": ["order_id": order, "tenant_id": tenant.uuidString.lowercased()]]
        return (tenant, order, charge)
    }

    func testChargeRefundedReversesTheOrdersCommissionsOnce() async throws {
        try await DispatchWorld.run { world in
            let (tenant, order, charge) = try await Self.refundedOrderOf2500(world, refunded: 2500)
            let first = Self.event("charge.refunded", object: charge)
            let second = Self.event("charge.refunded", object: charge)
            for event in [first, second] {
                try await world.post(.stripe, event)
                try await world.settled("stripe", try XCTUnwrap(event["id"] as? String), as: "processed")
            }
            let ledger = try await world.ledger(tenant, medusaOrder: order)
            XCTAssertEqual(ledger, ["commission -250", "earning 2500", "reversal -2500", "reversal 250"])
            let statuses = try await world.values(tenant, "SELECT status FROM orders WHERE external_id = '\(order)'", as: String.self)
            XCTAssertEqual(statuses, ["refunded"])
        }
    }

    /// A partial refund that names no lines cannot be attributed to vendors: the event fails for an
    /// operator, with what to do, and reverses nothing, rather than reading "ignored" while the
    /// vendors keep their earnings on the money given back.
    func testAPartialRefundNamingNoLinesFailsForAnOperator() async throws {
        try await DispatchWorld.run { world in
            let (tenant, order, charge) = try await Self.refundedOrderOf2500(world, refunded: 1000)
            let event = Self.event("charge.refunded", object: charge)
            try await world.post(.stripe, event)
            let row = try await world.settled("stripe", try XCTUnwrap(event["id"] as? String), as: "failed")
            XCTAssertTrue(row.error?.contains("names no lines (metadata.line_ids)") == true, String(describing: row.error))
            XCTAssertTrue(row.error?.contains("commission.reverse") == true, String(describing: row.error))
            let orderID = MedusaOrderMapping.orderID(order).uuidString.lowercased()
            XCTAssertTrue(row.error?.contains("\"order_id\": \"\(orderID)\"") == true, "the id the job takes: \(String(describing: row.error))")
            let ledger = try await world.ledger(tenant, medusaOrder: order)
            XCTAssertEqual(ledger, ["commission -250", "earning 2500"], "nothing reversed")
        }
    }

    /// A refunded charge of no order (a subscription invoice's) has nothing to reverse: ignored,
    /// not a dead letter that no replay could ever make succeed.
    func testARefundedChargeOfNoOrderIsIgnored() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let charge: [String: Any] = ["id": "ch_" + UUID().uuidString.prefix(8), "object": "charge", "amount": 5000,
                                         "amount_refunded": 5000, "refunded": true,
                                         "metadata": ["invoice_id": UUID().uuidString.lowercased(), "tenant_id": tenant.uuidString.lowercased()]]
            let event = Self.event("charge.refunded", object: charge)
            try await world.post(.stripe, event)
            try await world.settled("stripe", try XCTUnwrap(event["id"] as? String), as: "ignored")
        }
    }

    func testTransferEventsReconcileThePayoutOnceAndAReversalNeedsAnOperator() async throws {
        try await DispatchWorld.run { world in
            let (tenant, payout, transfer) = try await Self.pendingPayoutOf4200(world)
            let created = Self.event("transfer.created", object: transfer)
            try await world.post(.stripe, created)
            try await world.settled("stripe", try XCTUnwrap(created["id"] as? String), as: "processed")
            let updated = Self.event("transfer.updated", object: transfer)
            try await world.post(.stripe, updated)
            try await world.settled("stripe", try XCTUnwrap(updated["id"] as? String), as: "ignored")

            let rows = try await world.values(tenant, """
                SELECT status || ' ' || stripe_transfer_id FROM payouts WHERE id = '\(payout.uuidString.lowercased())'
                """, as: String.self)
            XCTAssertEqual(rows, ["paid \(transfer["id"] as? String ?? "")"])
            let booked = try await world.values(tenant, """
                SELECT amount FROM vendor_ledger_entries WHERE payout_id = '\(payout.uuidString.lowercased())'
                """, as: Int64.self)
            XCTAssertEqual(booked, [-4200], "the payout's ledger entry, once")

            var reversedTransfer = transfer
            reversedTransfer["reversed"] = true
            reversedTransfer["amount_reversed"] = 4200
            let reversed = Self.event("transfer.reversed", object: reversedTransfer)
            try await world.post(.stripe, reversed)
            let failed = try await world.settled("stripe", try XCTUnwrap(reversed["id"] as? String), as: "failed")
            XCTAssertTrue(failed.error?.contains("reversed") == true, String(describing: failed.error))
        }
    }

    /// A transfer event books a pending payout paid only when it says the transfer was made, to the
    /// payout's account: `transfer.failed` (older API versions) and a transfer to another account
    /// carrying the payout's id fail the event for an operator, and the payout stays pending.
    func testATransferThatFailedOrWentElsewhereDoesNotBookThePayoutPaid() async throws {
        try await DispatchWorld.run { world in
            let (tenant, payout, transfer) = try await Self.pendingPayoutOf4200(world)
            let failedTransfer = Self.event("transfer.failed", object: transfer)
            try await world.post(.stripe, failedTransfer)
            let failed = try await world.settled("stripe", try XCTUnwrap(failedTransfer["id"] as? String), as: "failed")
            XCTAssertTrue(failed.error?.contains("did not go through") == true, String(describing: failed.error))

            var elsewhere = transfer
            elsewhere["destination"] = "acct_someone_else"
            let toAnother = Self.event("transfer.created", object: elsewhere)
            try await world.post(.stripe, toAnother)
            let misdirected = try await world.settled("stripe", try XCTUnwrap(toAnother["id"] as? String), as: "failed")
            XCTAssertTrue(misdirected.error?.contains("acct_someone_else") == true, String(describing: misdirected.error))

            let statuses = try await world.values(tenant, """
                SELECT status FROM payouts WHERE id = '\(payout.uuidString.lowercased())'
                """, as: String.self)
            XCTAssertEqual(statuses, ["pending"], "neither booked it paid")
            let booked = try await world.values(tenant, """
                SELECT amount FROM vendor_ledger_entries WHERE payout_id = '\(payout.uuidString.lowercased())'
                """, as: Int64.self)
            XCTAssertEqual(booked, [], "no ledger entry")
        }
    }

    /// A tenant whose vendor has a payout of 4,200 pending, and the transfer Stripe would make for it.
    private static func pendingPayoutOf4200(_ world: DispatchWorld) async throws -> (tenant: UUID, payout: UUID, transfer: [String: Any]) {
        let tenant = try await world.makeTenant()
        let account = "acct_" + UUID().uuidString.prefix(12).lowercased()
        let vendor = try await world.makeVendor(tenant, account: account, payoutsEnabled: true)
        let payout = UUID()
        try await world.app.withTenant(tenant) { connection in
            try await connection.query("""
                INSERT INTO payouts (tenant_id, id, vendor_id, amount, currency, destination)
                VALUES (\(tenant), \(payout), \(vendor), 4200, 'USD', \(account))
                """, logger: DispatchWorld.logger)
        }
        let transfer: [String: Any] = [
            "id": "tr_" + UUID().uuidString.prefix(10), "object": "transfer", "amount": 4200, "currency": "usd",
            "destination": account, "reversed": false, "amount_reversed": 0,
            "metadata": ["payout_id": payout.uuidString.lowercased(), "tenant_id": tenant.uuidString.lowercased()]]
        return (tenant, payout, transfer)
    }
}
