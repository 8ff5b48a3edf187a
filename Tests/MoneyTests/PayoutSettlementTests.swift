import CityOSTesting
import Connectors
import Foundation
@testable import Jobs
import Queue
import XCTest

/// An operator's settlement of a payout `payouts.vendor` left pending (`PayoutOperations`,
/// `cityos payouts settle`), against the real PostgreSQL and the sandbox's Stripe.
final class PayoutSettlementTests: XCTestCase, PayoutFixtures {
    private func operations(_ world: MoneyWorld) -> PayoutOperations {
        PayoutOperations(database: world.app, stripe: world.connectors.stripe, logger: MoneyWorld.logger)
    }

    /// `settle` must refuse, naming each of `names`, and change nothing: neither the payout nor the ledger.
    private func expectRefusal(_ world: MoneyWorld, tenant: UUID, payout: UUID, _ decision: PayoutOperations.Decision,
                               unrelated: [String] = [], naming names: [String],
                               file: StaticString = #filePath, line: UInt = #line) async throws {
        let before = try await operations(world).find(tenant: tenant, payout: payout)
        let ledgerBefore = try await world.sum(tenant, "true")
        do {
            _ = try await operations(world).settle(tenant: tenant, payout: payout, as: decision, unrelated: unrelated)
            XCTFail("\(decision) must be refused", file: file, line: line)
        } catch let refusal as PayoutSettlementRefusal {
            for name in names {
                XCTAssertTrue(refusal.description.contains(name), "\(name) in \(refusal)", file: file, line: line)
            }
        }
        let after = try await operations(world).find(tenant: tenant, payout: payout)
        XCTAssertEqual([after?.status, after?.transferID, after?.failureReason],
                       [before?.status, before?.transferID, before?.failureReason], "the payout unchanged", file: file, line: line)
        let ledgerAfter = try await world.sum(tenant, "true")
        XCTAssertEqual(ledgerAfter, ledgerBefore, "the ledger unchanged", file: file, line: line)
    }

    /// The job's own alarm: a payout whose group is empty while the vendor received a transfer of
    /// its amount since it was opened. The operator finds it was paid by hand and books it so.
    func testAnOperatorBooksAPayoutPaidByHandAndNothingIsPaidTwice() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let (stale, job) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            let byHand = try await transfer(for: stale, world)
            do {
                try await world.run(job, .init(vendorID: vendor), tenant: tenant)
                XCTFail("left for an operator")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.description.contains("cityos payouts settle --tenant \(tenant.uuidString.lowercased()) "
                                                           + stale.idempotencyKey), "the dead letter names the command: \(failure)")
            }

            let settled = try await operations(world).settle(tenant: tenant, payout: stale.id, as: .paidBy(transferID: byHand.id),
                                                             note: "paid from the dashboard on Monday")
            XCTAssertEqual(settled.status, "paid")
            XCTAssertEqual(settled.transferID, byHand.id)
            let balance = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(balance, 0, "the ledger has the payout's entry")
            let memo = try await world.sum(tenant, "kind = 'payout' AND memo LIKE '%booked by an operator: paid from the dashboard%'")
            XCTAssertEqual(memo, -stale.amount, "the entry says who booked it and why")

            try await world.run(job, .init(vendorID: vendor), tenant: tenant)
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.id), [byHand.id], "the job, run again, sends nothing")
            try await expectRefusal(world, tenant: tenant, payout: stale.id, .neverMade,
                                    naming: ["is paid with transfer \(byHand.id)"])
        }
    }

    func testATransferThatIsNotThePayoutIsRefused() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, _) = try await vendorWithSales(world)
            let (stale, _) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            let short = try await transfer(for: stale, less: 1, world)
            try await expectRefusal(world, tenant: tenant, payout: stale.id, .paidBy(transferID: short.id),
                                    naming: [short.id, "the payout \(Money(minorUnits: Int(stale.amount), currency: "USD"))"])
            let elsewhere = try await world.connectors.stripe.createTransfer(
                amount: Money(minorUnits: Int(stale.amount), currency: "USD"), destination: try await world.createAccount(),
                idempotencyKey: UUID().uuidString)
            try await expectRefusal(world, tenant: tenant, payout: stale.id, .paidBy(transferID: elsewhere.id),
                                    naming: ["went to \(elsewhere.destination)"])
            let returned = try await transfer(for: stale, world)
            _ = try await world.stripe("POST", "/v1/transfers/\(returned.id)/reversals", body: "amount=100")
            try await expectRefusal(world, tenant: tenant, payout: stale.id, .paidBy(transferID: returned.id),
                                    naming: ["1 USD of it was reversed"])
            do {
                _ = try await operations(world).settle(tenant: tenant, payout: stale.id, as: .paidBy(transferID: "tr_nonexistent"))
                XCTFail("a transfer Stripe does not have is refused")
            } catch let error as ConnectorError {
                guard case .notFound = error else { return XCTFail("\(error)") }
            }
            let payouts = try await operations(world).list(tenant: tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["pending"])
        }
    }

    func testATransferAlreadyBookedOnAnotherPayoutIsRefused() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, _) = try await vendorWithSales(world)
            let (first, _) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            let byHand = try await transfer(for: first, world)
            _ = try await operations(world).settle(tenant: tenant, payout: first.id, as: .paidBy(transferID: byHand.id))
            // A second sale, the same amount, left pending past the window.
            let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(),
                                                           lines: [.init(vendorID: vendor, quantity: 3, unitAmount: 3_333)])
            try await world.run(world.calculate, .init(order: order), tenant: tenant)
            let (second, _) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            XCTAssertEqual(second.amount, first.amount)
            try await expectRefusal(world, tenant: tenant, payout: second.id, .paidBy(transferID: byHand.id),
                                    naming: ["\(byHand.id) is already booked as payout \(first.idempotencyKey)"])
        }
    }

    func testNeverMadeFailsThePayoutAndItsBalanceIsPaidOnceUnderANewKey() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let owed = try await world.balance(tenant, vendor: vendor)
            let (stale, job) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            let settled = try await operations(world).settle(tenant: tenant, payout: stale.id, as: .neverMade,
                                                             note: "checked the Stripe dashboard")
            XCTAssertEqual(settled.status, "failed")
            XCTAssertTrue(settled.failureReason?.contains("settled by an operator: checked the Stripe dashboard") ?? false,
                          "\(String(describing: settled.failureReason))")

            try await world.run(job, .init(vendorID: vendor), tenant: tenant)
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.amount), [Int(owed)], "paid once, by the next payout")
            let statuses = try await operations(world).list(tenant: tenant, vendor: vendor).map(\.status)
            XCTAssertEqual(statuses, ["paid", "failed"], "newest first")
            let after = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(after, 0)
        }
    }

    func testNothingIsSettledWhileASendMayStillRun() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, _) = try await vendorWithSales(world)
            // Two hours old: the job may be sending it right now.
            let (young, _) = try await expiredPayout(world, tenant: tenant, vendor: vendor, hoursAgo: 2)
            try await expectRefusal(world, tenant: tenant, payout: young.id, .neverMade,
                                    naming: ["pending for 2.0 h", "a send may still be running"])
            // Even one that looks made under its key: anyone can set a group and metadata.
            let lookalike = try await world.connectors.stripe.createTransfer(
                amount: Money(minorUnits: Int(young.amount), currency: young.currency), destination: young.destination,
                transferGroup: "payout_\(young.idempotencyKey)", metadata: ["payout_id": young.idempotencyKey],
                idempotencyKey: UUID().uuidString)
            try await expectRefusal(world, tenant: tenant, payout: young.id, .paidBy(transferID: lookalike.id),
                                    naming: ["a send may still be running"])
            // Past the resend limit (23 h) but not the settle-after age (23.5 h): a send begun at 22 h 59 m may still run.
            let (tenant2, vendor2, _) = try await vendorWithSales(world)
            let (late, _) = try await expiredPayout(world, tenant: tenant2, vendor: vendor2, hoursAgo: 23.2)
            try await expectRefusal(world, tenant: tenant2, payout: late.id, .neverMade, naming: ["pending for 23.2 h"])
        }
    }

    func testNeverMadeIsRefusedWhileStripeHoldsALiveTransferInItsGroupOrOfItsAmountToTheVendor() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let owed = try await world.balance(tenant, vendor: vendor)
            let (stale, job) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            let inGroup = try await transfer(for: stale, less: 5, group: "payout_\(stale.idempotencyKey)", world)
            try await expectRefusal(world, tenant: tenant, payout: stale.id, .neverMade,
                                    naming: ["payout_\(stale.idempotencyKey) holds \(inGroup.id)", "--transfer", "reversed"])
            // What should not have been sent is reversed in Stripe: all of it came back, it paid nothing.
            _ = try await world.stripe("POST", "/v1/transfers/\(inGroup.id)/reversals")
            // A transfer of its amount to the vendor, outside the group: maybe this payout, made by hand.
            let alike = try await transfer(for: stale, world)
            try await expectRefusal(world, tenant: tenant, payout: stale.id, .neverMade,
                                    naming: [alike.id, "--not"])
            // The operator finds it paid for something else, and says so.
            let settled = try await operations(world).settle(tenant: tenant, payout: stale.id, as: .neverMade, unrelated: [alike.id])
            XCTAssertTrue(settled.failureReason?.contains("not it: \(alike.id)") ?? false, "\(String(describing: settled.failureReason))")
            XCTAssertEqual(settled.status, "failed")
            try await world.run(job, .init(vendorID: vendor), tenant: tenant)
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.id).count, 3, "the reversed one, the unrelated one, and the balance paid again")
            XCTAssertEqual(transfers.last?.amount, Int(owed))
            let after = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(after, 0)
        }
    }

    func testATransferIsRefusedWhileItsGroupHoldsAnotherOrWhenMadeForAnotherPayout() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, _) = try await vendorWithSales(world)
            let (stale, _) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            // The job's own transfer is in the group (its webhook lost); another of the same amount is named.
            let own = try await transfer(for: stale, group: "payout_\(stale.idempotencyKey)", key: stale.idempotencyKey, world)
            let byHand = try await transfer(for: stale, world)
            try await expectRefusal(world, tenant: tenant, payout: stale.id, .paidBy(transferID: byHand.id),
                                    naming: ["payout_\(stale.idempotencyKey) holds \(own.id)"])
            let forAnother = try await world.connectors.stripe.createTransfer(
                amount: Money(minorUnits: Int(stale.amount), currency: stale.currency), destination: stale.destination,
                metadata: ["payout_id": UUID().uuidString.lowercased()], idempotencyKey: UUID().uuidString)
            try await expectRefusal(world, tenant: tenant, payout: stale.id, .paidBy(transferID: forAnother.id),
                                    naming: ["it was made for payout"])
            let forAnotherTenant = try await world.connectors.stripe.createTransfer(
                amount: Money(minorUnits: Int(stale.amount), currency: stale.currency), destination: stale.destination,
                metadata: ["tenant_id": UUID().uuidString.lowercased()], idempotencyKey: UUID().uuidString)
            try await expectRefusal(world, tenant: tenant, payout: stale.id, .paidBy(transferID: forAnotherTenant.id),
                                    naming: ["it was made for tenant"])
            // The job's own transfer, but the vendor also received the others, one of them maybe a second payment.
            try await expectRefusal(world, tenant: tenant, payout: stale.id, .paidBy(transferID: own.id),
                                    naming: ["also received", byHand.id, "--not"])
            // Partly reversed, even the job's own is not a whole payment.
            _ = try await world.stripe("POST", "/v1/transfers/\(own.id)/reversals", body: "amount=1")
            try await expectRefusal(world, tenant: tenant, payout: stale.id, .paidBy(transferID: own.id),
                                    unrelated: [byHand.id, forAnother.id, forAnotherTenant.id], naming: ["of it was reversed"])
            // Made whole in Stripe (the rest of it reversed), a new transfer pays it.
            _ = try await world.stripe("POST", "/v1/transfers/\(own.id)/reversals")
            let settled = try await operations(world).settle(tenant: tenant, payout: stale.id, as: .paidBy(transferID: byHand.id),
                                                             unrelated: [forAnother.id, forAnotherTenant.id])
            XCTAssertEqual(settled.transferID, byHand.id)
        }
    }

    /// One transfer pays one payout, whichever tenant's: the index holds where the tenant's own
    /// check cannot see (another tenant's vendor on the same connected account).
    func testATransferBookedInAnotherTenantIsRefused() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, account) = try await vendorWithSales(world)
            let (stale, _) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            let shared = try await transfer(for: stale, world)
            _ = try await operations(world).settle(tenant: tenant, payout: stale.id, as: .paidBy(transferID: shared.id))
            let (tenant2, vendor2, _) = try await vendorWithSales(world, account: .existing(try XCTUnwrap(account)))
            let (stale2, _) = try await expiredPayout(world, tenant: tenant2, vendor: vendor2)
            XCTAssertEqual(stale2.amount, stale.amount)
            try await expectRefusal(world, tenant: tenant2, payout: stale2.id, .paidBy(transferID: shared.id),
                                    naming: ["\(shared.id) is already booked as another payout"])
        }
    }

    /// A payout left pending for an operator shows in `money.reconcile` (the status's check) until it is settled.
    func testAPayoutLeftPendingIsCountedByTheReconciliationUntilSettled() async throws {
        try await MoneyWorld.run { world in
            let sql = try XCTUnwrap(MoneyReconcileJob.invariants.first { $0.name == "payout_left_pending" }?.sql)
            func leftPending(_ payout: UUID? = nil) async throws -> Int {
                // The sweep's count, or whether it counts `payout`.
                let query = payout.map { "SELECT * FROM (\(sql)) AS q(tenant_id, id) WHERE q.id = '\($0.uuidString.lowercased())'" } ?? sql
                return try await world.app.withPlatformSweep { connection in
                    try await MoneyReconcileJob.count(query, on: connection, logger: MoneyWorld.logger).0
                }
            }
            let (tenant, vendor, _) = try await vendorWithSales(world)
            let (young, _) = try await expiredPayout(world, tenant: tenant, vendor: vendor, hoursAgo: 24)
            let (tenant2, vendor2, _) = try await vendorWithSales(world)
            let (stale, _) = try await expiredPayout(world, tenant: tenant2, vendor: vendor2, hoursAgo: 26)
            let counted = try await (leftPending(young.id), leftPending(stale.id))
            XCTAssertEqual([counted.0, counted.1], [0, 1], "the one pending for 26 h, not the one of 24 h")
            let all = try await leftPending()
            XCTAssertGreaterThanOrEqual(all, 1)
            _ = try await operations(world).settle(tenant: tenant2, payout: stale.id, as: .neverMade)
            let settled = try await leftPending(stale.id)
            XCTAssertEqual(settled, 0, "settled, it is no longer counted")
        }
    }

    /// Row-level security: another tenant's operator cannot see or settle the payout.
    func testAnotherTenantCannotSeeOrSettleThePayout() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, _) = try await vendorWithSales(world)
            let (stale, _) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            let stranger = try await world.makeTenant()
            let seen = try await operations(world).list(tenant: stranger)
            XCTAssertTrue(seen.isEmpty)
            try await expectRefusal(world, tenant: stranger, payout: stale.id, .neverMade,
                                    naming: ["has no payout \(stale.idempotencyKey)"])
            let mine = try await operations(world).find(tenant: tenant, payout: stale.id)
            XCTAssertEqual(mine?.status, "pending")
        }
    }

    /// The command operators type, as a process: list, a refusal (exit 2, one line), a settlement.
    func testTheSettleCommandSettlesAndRefusesAsAProcess() async throws {
        try await MoneyWorld.run { world in
            let (tenant, vendor, _) = try await vendorWithSales(world)
            let (stale, _) = try await expiredPayout(world, tenant: tenant, vendor: vendor)
            let inGroup = try await transfer(for: stale, group: "payout_\(stale.idempotencyKey)", world)
            let environment = try MoneyWorld.environment(sandboxURL: world.sandboxURL,
                                                         namespace: TestEnvironment.uniqueNamespace("payouts-cli"))
            let tenantText = tenant.uuidString.lowercased()
            func cityos(_ arguments: [String]) async throws -> (Int32, String) {
                let process = try ChildProcess(arguments: arguments, environment: environment)
                let status = try await process.waitForExit()
                return (status, process.log)
            }
            let (listed, listing) = try await cityos(["payouts", "list", "--tenant", tenantText, "--status", "pending"])
            XCTAssertEqual(listed, 0, listing)
            XCTAssertTrue(listing.contains(stale.idempotencyKey) && listing.contains("pending"), listing)

            let (refused, refusal) = try await cityos(["payouts", "settle", "--tenant", tenantText, stale.idempotencyKey, "--never-made"])
            XCTAssertEqual(refused, 2, refusal)
            XCTAssertTrue(refusal.contains("holds \(inGroup.id)") && refusal.contains("nothing changed"), refusal)

            let (settled, output) = try await cityos(["payouts", "settle", "--tenant", tenantText, stale.idempotencyKey,
                                                      "--transfer", inGroup.id])
            XCTAssertEqual(settled, 0, output)
            XCTAssertTrue(output.contains("is paid with transfer \(inGroup.id)"), output)
            let payouts = try await world.payouts(tenant, vendor: vendor)
            XCTAssertEqual(payouts.map(\.status), ["paid"])
        }
    }

    /// Stripe lists 100 transfers a page: a settlement reads every page, up to its limit.
    func testTransferListingsAreReadPastTheFirstPage() async throws {
        try await MoneyWorld.run { world in
            let destination = try await world.createAccount()
            let group = "paging_" + UUID().uuidString.lowercased()
            var made: [String] = []
            for _ in 0..<205 {
                made.append(try await world.connectors.stripe.createTransfer(
                    amount: Money(minorUnits: 100, currency: "USD"), destination: destination, transferGroup: group,
                    idempotencyKey: UUID().uuidString).id)
            }
            let stripe = world.connectors.stripe
            let all = try await stripe.allTransfers(group: group)
            XCTAssertEqual(all.data.map(\.id), made.reversed(), "every page, newest first")
            XCTAssertFalse(all.hasMore)
            let two = try await stripe.allTransfers(group: group, pageLimit: 2)
            XCTAssertEqual(two.data.count, 200)
            XCTAssertTrue(two.hasMore, "the limit reached says so")
            let after = try await stripe.transfers(destination: destination, startingAfter: made[2])
            XCTAssertEqual(after.data.map(\.id), [made[1], made[0]], "the page after a cursor")
        }
    }
}
