import Connectors
import Foundation
@testable import Jobs
import Queue
import XCTest

/// `payouts.vendor` in this process against the real PostgreSQL and the sandbox's Stripe.
final class VendorPayoutTests: XCTestCase, PayoutFixtures {
    func testThePayableBalanceBecomesOneTransferAndOnePaidPayoutHoweverOftenItRuns() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let owed = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(owed, 9_999 - 1_000)
            let jobID = JobID.make()
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant, id: jobID)
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant, id: jobID)
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.amount), [Int(owed)], "one transfer of the whole balance")
            let payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["paid"])
            XCTAssertEqual(payouts.first?.transfer, transfers.first?.id)
            let after = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(after, 0, "the payout entry settles the ledger")
        }
    }

    func testTheHoldPeriodTheMinimumAndDisabledPayoutsKeepTheMoney() async throws {
        try await MoneyWorld.run { world in
            let held = try await vendorWithSales(world, holdDays: 7, placedDaysAgo: 2)
            try await world.run(world.payVendor, .init(vendorID: held.vendor), tenant: held.tenant)
            let heldPayouts = try await world.payouts(held.tenant, vendor: held.vendor)
            XCTAssertTrue(heldPayouts.isEmpty, "inside the hold period")

            let small = try await vendorWithSales(world, minimum: 10_000)
            try await world.run(world.payVendor, .init(vendorID: small.vendor), tenant: small.tenant)
            let smallPayouts = try await world.payouts(small.tenant, vendor: small.vendor)
            XCTAssertTrue(smallPayouts.isEmpty, "89.99 is below the 100.00 minimum")

            let disabled = try await vendorWithSales(world, account: .none)
            try await world.run(world.payVendor, .init(vendorID: disabled.vendor), tenant: disabled.tenant)
            let disabledPayouts = try await world.payouts(disabled.tenant, vendor: disabled.vendor)
            XCTAssertTrue(disabledPayouts.isEmpty, "no connected account")
        }
    }

    /// The hold period exists to absorb refunds: a refund inside it must stop the money, even once
    /// the sale itself is past the hold (reversals count at once, docs/money.md).
    func testARefundInsideTheHoldPeriodIsNotPaidOut() async throws {
        try await MoneyWorld.run { world in
            let tenant = try await world.makeTenant(holdDays: 7)
            let (vendor, accountID) = try await world.makeVendor(tenant)
            try await world.setRule(tenant, basisPoints: 1_000)
            let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(daysAgo: 8),
                                                           lines: [.init(vendorID: vendor, quantity: 3, unitAmount: 3_333)])
            try await world.run(world.calculate, .init(order: order), tenant: tenant)
            try await world.run(world.reverse, .init(orderID: order.id, reason: .refund), tenant: tenant)
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
            let transfers = try await world.transfers(to: try XCTUnwrap(accountID))
            XCTAssertEqual(transfers.map(\.amount), [], "the refunded sale is not paid out")
            let payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertTrue(payouts.isEmpty, "no payout for a refunded sale: \(payouts)")
            let balance = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(balance, 0)
        }
    }

    /// Stripe made the transfer but its answer did not read: the payout must stay pending (its
    /// entries held), so that the next attempt resends the same key instead of paying again.
    func testATransferWhoseAnswerDoesNotReadIsResumedNotPaidTwice() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let owed = try await world.balance(tenant, vendor: vendor)
            try await world.script(#"{"kind": "garble", "endpoint": "POST /stripe/v1/transfers"}"#)
            do {
                try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
                XCTFail("an answer that does not read is not a paid payout")
            } catch {
                XCTAssertFalse((error as? JobFailure)?.isPermanent ?? false, "retried, not given up: \(error)")
            }
            let afterGarble = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(afterGarble.map(\.status), ["pending"], "left pending, its entries held")
            let made = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(made.count, 1, "Stripe made the transfer")

            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.amount), [Int(owed)], "one transfer, however the first answer went")
            let payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["paid"])
            XCTAssertEqual(payouts.first?.transfer, transfers.first?.id)
        }
    }

    /// Stripe made the transfer but its answer did not read; the next send is refused before Stripe
    /// reads the key (a key being rotated: 401). The payout stays pending, its entries held: failed,
    /// it freed them for a new payout under a new key, and the vendor was paid twice.
    func testACredentialsRefusalAfterAnUnreadAnswerLeavesThePayoutPendingNotPaidTwice() async throws {
        try await unreadAnswerThen(#"{"kind": "fail", "endpoint": "POST /stripe/v1/transfers", "status": 401}"#) { error in
            guard let failure = error as? JobFailure else { return XCTFail("expected a JobFailure, got \(error)") }
            XCTAssertTrue(failure.description.contains("left pending"), failure.description)
        }
    }

    /// The same, with a 404 that is not Stripe's (a proxy in front of it, a wrong `stripe.url` after a
    /// deploy: a plain body, no Stripe error object): it says nothing of the earlier send that made
    /// the transfer, so the payout stays pending, and the send after the fix is answered with that
    /// transfer. Read as Stripe's refusal, the payout failed and its balance was paid again.
    func testA404ThatIsNotStripesAfterAnUnreadAnswerLeavesThePayoutPendingNotPaidTwice() async throws {
        try await unreadAnswerThen(#"{"kind": "fail", "endpoint": "POST /stripe/v1/transfers", "status": 404, "from": "proxy"}"#) { error in
            guard let error = error as? ConnectorError else { return XCTFail("expected a ConnectorError, got \(error)") }
            XCTAssertTrue(error.mayHaveTakenEffect, "\(error)")
            XCTAssertTrue(error.description.contains("not Stripe's answer"), error.description)
        }
    }

    /// A transfer Stripe made whose answer did not read, then `answer` (a script) to the next send,
    /// which `check` looks at: the payout stays pending, its entries held, and the sends after it
    /// are answered with the transfer made: one transfer, one paid payout.
    private func unreadAnswerThen(_ answer: String, _ check: (any Error) -> Void) async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let owed = try await world.balance(tenant, vendor: vendor)
            try await world.script(#"{"kind": "garble", "endpoint": "POST /stripe/v1/transfers"}"#)
            do { try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant) } catch {}
            try await world.script(answer)
            do {
                try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
                XCTFail("a refused send is not a paid payout")
            } catch {
                check(error)
            }
            let afterRefusal = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(afterRefusal.map(\.status), ["pending"], "not failed: its entries stay held")

            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)   // the replay after the fix
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)   // and the next day's run
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.amount), [Int(owed)], "one transfer")
            let payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["paid"])
        }
    }

    /// A hold setting that is not a number of days (`"7d"`) is read as the default 7 days, and the
    /// payout runs; before, the cast failed and stopped every payout of the tenant.
    func testAnUnreadableHoldSettingFallsBackToTheDefaultHold() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world, placedDaysAgo: 10)
            let owed = try await world.balance(tenant, vendor: vendor)
            try await world.app.withTenant(tenant) { connection in
                try await connection.query("""
                    UPDATE tenants SET settings = jsonb_set(settings, '{payouts,hold_days}', '"7d"') WHERE id = \(tenant)
                    """, logger: MoneyWorld.logger)
            }
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.amount), [Int(owed)], "sales 10 days old are past the default hold of 7")
        }
    }

    /// Stripe takes KWD only in multiples of 0.010: a balance of 11.111 KWD is paid as 11.110, and
    /// the 0.001 left is carried, payable with the next payout (the vendor's balance says so). Before,
    /// the payout failed, and again every day the balance was not such a multiple.
    func testAThreeDecimalBalanceIsPaidToStripesStepAndTheRestCarried() async throws {
        try await MoneyWorld.run { world in
            let tenant = try await world.makeTenant()
            let (vendor, account) = try await world.makeVendor(tenant)
            try await world.setRule(tenant, basisPoints: 0)
            func sell(_ fils: Int64) async throws {
                let order = CommissionCalculateJob.PlacedOrder(currency: "KWD", placedAt: MoneyWorld.placedAt(daysAgo: 10),
                                                               lines: [.init(vendorID: vendor, quantity: 1, unitAmount: fils)])
                try await world.run(world.calculate, .init(order: order), tenant: tenant)
            }
            try await sell(11_111)
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
            var transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.amount), [11_110], "11.110 KWD, Stripe's step")
            var balance = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(balance, 1, "0.001 KWD still owed")
            var payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["paid"])

            try await sell(2_009)   // 2.009 KWD more: 2.010 with the carried 0.001
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
            transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.amount).sorted(), [2_010, 11_110], "the carried fils went with the next payout")
            balance = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(balance, 0)
            payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["paid", "paid"])
        }
    }

    func testACrashAfterStripeAnsweredTwiceInARowStillEndsWithOneTransfer() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let owed = try await world.balance(tenant, vendor: vendor)
            // What a worker killed after the transfer and before the commit leaves behind, twice.
            let book = PayoutBook(database: world.app, logger: MoneyWorld.logger)
            let pending = try await book.open(tenant: tenant, vendor: vendor)
            XCTAssertEqual(pending.map(\.amount), [owed])
            let again = try await book.open(tenant: tenant, vendor: vendor)
            XCTAssertEqual(again, pending, "a redelivery resumes the pending payout, it does not make another")
            for _ in 0..<2 {
                let payout = try XCTUnwrap(pending.first)
                _ = try await world.connectors.stripe.createTransfer(
                    amount: Money(minorUnits: Int(payout.amount), currency: payout.currency), destination: payout.destination,
                    transferGroup: "payout_\(payout.idempotencyKey)", description: "CityOS vendor payout",
                    metadata: ["payout_id": payout.idempotencyKey, "vendor_id": payout.vendorID.uuidString.lowercased(),
                               "tenant_id": tenant.uuidString.lowercased()],
                    idempotencyKey: payout.idempotencyKey)
            }
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.amount), [Int(owed)], "Stripe replayed the same transfer for the same key")
            let payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["paid"])
            let after = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(after, 0)
        }
    }

    /// Stripe made the transfer, then answered 500, which it saves under the key and answers to every
    /// retry with it: the payout stays pending (a 500 is never taken for a refusal), and once past
    /// the idempotency window it is booked from Stripe's record, never sent again.
    func testATransferStripeAnswered500ForUnderItsKeyIsBookedFromItsRecord() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            try await world.script(#"{"kind": "fail_behind", "endpoint": "POST /stripe/v1/transfers", "times": 1}"#)
            for _ in 0..<2 {
                do {
                    try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
                    XCTFail("Stripe answers its saved 500 to every retry with the key")
                } catch let error as ConnectorError {
                    XCTAssertTrue(error.isRetryable, "\(error)")
                }
            }
            var payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["pending"])
            try await world.expireIdempotencyKeys()

            let (_, job) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            try await world.run(job, .init(vendorID: vendor), tenant: tenant)
            payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["paid"])
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.count, 1, "one transfer")
            XCTAssertEqual(payouts.first?.transfer, transfers.first?.id)
        }
    }

    /// Runs `job`, which must leave the payout pending for an operator: it dies for good with a
    /// reason naming each of `names`, and Stripe holds only the transfers `held`.
    private func expectLeftForOperator(_ job: PayoutsVendorJob, _ world: MoneyWorld, tenant: UUID, vendor: UUID,
                                       account: String?, naming names: [String], held: [String]) async throws {
        do {
            try await world.run(job, .init(vendorID: vendor), tenant: tenant)
            XCTFail("a payout Stripe's record does not settle must be left to an operator")
        } catch let failure as JobFailure {
            XCTAssertTrue(failure.isPermanent)
            for name in names { XCTAssertTrue(failure.description.contains(name), "\(name) in \(failure)") }
        }
        let transfers = try await world.transfers(to: try XCTUnwrap(account))
        XCTAssertEqual(transfers.map(\.id), held, "nothing was sent")
        let payouts = try await world.payouts(tenant, vendor: vendor)
        XCTAssertEqual(payouts.map(\.status), ["pending"], "left for an operator")
    }

    /// Between the resend limit and the time Stripe's record is read, a send may still be running
    /// at Stripe: the payout is neither sent nor settled, and the rest of the balance waits with it.
    func testAPayoutJustPastTheResendLimitWaitsForStripesRecord() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            // 23 h 12 min: past the resend limit (23 h), not yet at Stripe's record (23.5 h).
            let (_, job) = try await expiredPayout(world, tenant: tenant, vendor: vendor, hoursAgo: 23.2)
            try await world.run(job, .init(vendorID: vendor), tenant: tenant)
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertTrue(transfers.isEmpty, "nothing sent")
            let payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["pending"], "nor failed: its send may still be running at Stripe")
        }
    }

    /// A payout an operator paid by hand, outside its transfer group, is not paid again.
    func testAnExpiredPayoutPaidAnotherWayIsLeftForAnOperatorNotPaidTwice() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let (stale, job) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            let byHand = try await transfer(for: stale, world)
            try await expectLeftForOperator(job, world, tenant: tenant, vendor: vendor, account: account,
                                            naming: [byHand.id], held: [byHand.id])
        }
    }

    func testAnExpiredPayoutStripeNeverSawIsFailedAndItsBalancePaidWithTheOtherCurrencies() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let owed = try await world.balance(tenant, vendor: vendor)
            let (stale, job) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            // A sale in euros, held back behind the pending payout until it is settled.
            let order = CommissionCalculateJob.PlacedOrder(currency: "EUR", placedAt: MoneyWorld.placedAt(daysAgo: 10),
                                                           lines: [.init(vendorID: vendor, quantity: 1, unitAmount: 5_000)])
            try await world.run(world.calculate, .init(order: order), tenant: tenant)
            let euros = try await world.sum(tenant, "vendor_id = '\(vendor.uuidString.lowercased())' AND currency = 'EUR'")
            XCTAssertGreaterThan(euros, 0)

            try await world.run(job, .init(vendorID: vendor), tenant: tenant)
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.amount).sorted(), [Int(euros), Int(owed)].sorted(),
                           "Stripe had no transfer of the stale payout: the dollars go again under a new key, with the euros")
            let payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status).sorted(), ["failed", "paid", "paid"])
            let failed = try XCTUnwrap(payouts.first { $0.status == "failed" })
            XCTAssertEqual(failed.amount, stale.amount)
            XCTAssertTrue(failed.reason?.contains("never made") ?? false, "\(failed)")
            let after = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(after, 0, "every balance paid once")
        }
    }

    func testAnExpiredPayoutWhoseTransferStripeMadeIsBookedFromStripesRecordNotSentAgain() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let (stale, job) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            // Its call reached Stripe; the answer was lost with the worker, and the retries ran out.
            let made = try await transfer(for: stale, group: "payout_\(stale.idempotencyKey)", key: stale.idempotencyKey, world)

            try await world.run(job, .init(vendorID: vendor), tenant: tenant)
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.id), [made.id], "nothing was sent again")
            let payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["paid"])
            XCTAssertEqual(payouts.first?.transfer, made.id)
            let after = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(after, 0)
        }
    }

    func testAnExpiredPayoutWhoseGroupHoldsAnotherTransferIsLeftPendingForAnOperator() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let (stale, job) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            // Someone sent a different amount by hand in the payout's group.
            let other = try await transfer(for: stale, less: 1, group: "payout_\(stale.idempotencyKey)", world)
            try await expectLeftForOperator(job, world, tenant: tenant, vendor: vendor, account: account,
                                            naming: ["payout_\(stale.idempotencyKey)", other.id], held: [other.id])
        }
    }

    func testARefusedTransferFailsThePayoutVisiblyAndReturnsTheEntriesToTheBalance() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, _) = try await vendorWithSales(world, account: .missing)
            let owed = try await world.balance(tenant, vendor: vendor)
            do {
                try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
                XCTFail("a refused transfer fails the job")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.isPermanent, "\(failure)")
            }
            let failed = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(failed.map(\.status), ["failed"])
            XCTAssertTrue(failed.first?.reason?.contains("No such destination") ?? false, "\(failed)")
            let balance = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(balance, owed, "nothing was paid")

            // The vendor connects a real account: the released entries are paid in full.
            let account = try await world.createAccount()
            try await world.app.withTenant(tenant) { connection in
                try await connection.query("UPDATE vendors SET stripe_account_id = \(account) WHERE id = \(vendor)",
                                           logger: MoneyWorld.logger)
            }
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
            let payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["failed", "paid"])
            XCTAssertEqual(payouts.last?.amount, owed)
            let transfers = try await world.transfers(to: account)
            XCTAssertEqual(transfers.map(\.amount), [Int(owed)])
        }
    }

    /// The vendor's account lost its `transfers` capability at Stripe (under review, payouts still
    /// enabled) before the platform heard of it: Stripe refuses the transfer. The payout fails saying why, its
    /// entries go back to the balance, and once the account is active again they are paid once.
    func testATransferToAnAccountThatCannotReceiveOneFailsThePayoutAndKeepsTheBalance() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let connected = try XCTUnwrap(account)
            let owed = try await world.balance(tenant, vendor: vendor)
            try await world.setTransfers(connected, "inactive")
            do {
                try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
                XCTFail("a refused transfer fails the job")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.isPermanent, "\(failure)")
                XCTAssertTrue("\(failure)".contains("insufficient_capabilities_for_transfer"), "\(failure)")
            }
            let failed = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(failed.map(\.status), ["failed"])
            XCTAssertTrue(failed.first?.reason?.contains("capabilities") ?? false, "\(failed)")
            let balance = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(balance, owed, "nothing was paid")
            let none = try await world.transfers(to: connected)
            XCTAssertTrue(none.isEmpty)

            try await world.setTransfers(connected, "active")
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
            let payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["failed", "paid"])
            let transfers = try await world.transfers(to: connected)
            XCTAssertEqual(transfers.map(\.amount), [Int(owed)], "paid once, in full")
        }
    }

    /// The platform's own available Stripe balance is short (its charges' funds not yet
    /// available): not the vendor's refusal, nor for good. The payout is failed (Stripe keeps the
    /// refusal under its key for a day), the job fails for a retry an hour later, not a dead letter,
    /// and once the balance allows, the entries are paid once, by a new payout.
    func testAPayoutThePlatformsBalanceCannotPayYetIsRetriedLaterByANewPayout() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let connected = try XCTUnwrap(account)
            let owed = try await world.balance(tenant, vendor: vendor)
            try await world.setAvailable("usd", Int(owed) - 1)
            do {
                try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
                XCTFail("a short balance fails the attempt")
            } catch let short as PayoutsVendorJob.BalanceShort {
                XCTAssertEqual(short.retryAfter, .seconds(3_600), "tried again in an hour")
                XCTAssertTrue(short.description.contains("balance_insufficient"), short.description)
            }
            let failed = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(failed.map(\.status), ["failed"])
            let balance = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(balance, owed, "nothing was paid")
            let none = try await world.transfers(to: connected)
            XCTAssertTrue(none.isEmpty)

            try await world.setAvailable("usd", Int(owed))
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
            let payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["failed", "paid"])
            let transfers = try await world.transfers(to: connected)
            XCTAssertEqual(transfers.map(\.amount), [Int(owed)], "paid once, in full")
        }
    }

    /// A suspended tenant's vendors are not paid new money, neither by the daily run nor by a vendor
    /// job already on its way (a pending payout, perhaps already sent, would still be settled); once
    /// active again, they are.
    func testTheDailyRunPaysNoVendorOfASuspendedTenant() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, _) = try await vendorWithSales(world)
            func fannedOut() async throws -> [String] {
                try await world.app.withTenant(tenant) { connection in
                    let rows = try await connection.query(
                        "SELECT args->>'vendor_id' FROM outbox WHERE kind = 'payouts.vendor' ORDER BY id", logger: MoneyWorld.logger)
                    var found: [String] = []
                    for try await vendor in rows.decode(String.self) { found.append(vendor) }
                    return found
                }
            }
            try await world.app.withTenant(tenant) { connection in
                try await connection.query("UPDATE tenants SET status = 'suspended' WHERE id = \(tenant)", logger: MoneyWorld.logger)
            }
            try await world.run(PayoutsRunJob(database: world.app), .init(tenantID: tenant), tenant: nil)
            let whileSuspended = try await fannedOut()
            XCTAssertEqual(whileSuspended, [], "no payout job for a suspended tenant's vendor")
            // Nor does a vendor job already on its way (fanned out before, or retried) open one.
            try await world.run(world.payVendor, .init(vendorID: vendor), tenant: tenant)
            let opened = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(opened.map(\.status), [], "no payout opened for a suspended tenant")
            try await world.app.withTenant(tenant) { connection in
                try await connection.query("UPDATE tenants SET status = 'active' WHERE id = \(tenant)", logger: MoneyWorld.logger)
            }
            try await world.run(PayoutsRunJob(database: world.app), .init(tenantID: tenant), tenant: nil)
            let whenActive = try await fannedOut()
            XCTAssertEqual(whenActive, [vendor.uuidString.lowercased()])
            try await world.app.withPlatformSweep { connection in
                try await connection.query("DELETE FROM outbox WHERE tenant_id = \(tenant)", logger: MoneyWorld.logger)
            }
        }
    }

    func testAProcessWithoutConnectorsRefusesPayoutsSayingWhy() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, _) = try await vendorWithSales(world)
            do {
                try await world.run(PayoutsVendorJob(database: world.app, stripe: nil), .init(vendorID: vendor), tenant: tenant)
                XCTFail("must fail")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.isPermanent)
                XCTAssertTrue(failure.description.contains("Stripe connector"), failure.description)
            }
        }
    }
}
