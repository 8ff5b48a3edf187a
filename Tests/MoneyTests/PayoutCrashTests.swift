import AsyncHTTPClient
import CityOSTesting
import Foundation
import Jobs
import Queue
import XCTest

/// `payouts.run` through real `cityos work` processes, killed on purpose between a Stripe
/// transfer and its commit, then before the transfer of the redelivery: each vendor still gets
/// exactly one transfer, of exactly its ledger balance, and a `paid` payout.
final class PayoutCrashTests: XCTestCase {
    func testPayoutsRunTwiceWithWorkersKilledAroundTheTransferPaysEachVendorOnce() async throws {
        try await MoneyWorld.run { world in
            let harness = try QueueHarness(registry: world.registry, label: "money")
            let tenant = try await world.makeTenant()
            try await world.setRule(tenant, basisPoints: 1_250)
            var vendors: [(id: UUID, account: String)] = []
            for _ in 0..<3 {
                let (id, account) = try await world.makeVendor(tenant)
                vendors.append((id, try XCTUnwrap(account)))
            }
            let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(), lines: vendors.flatMap {
                [CommissionCalculateJob.PlacedOrder.Line(vendorID: $0.id, quantity: 3, unitAmount: 3_333),
                 .init(vendorID: $0.id, quantity: 1, unitAmount: 777)]
            })
            try await world.run(world.calculate, .init(order: order), tenant: tenant)
            var owed: [UUID: Int64] = [:]
            for vendor in vendors { owed[vendor.id] = try await world.balance(tenant, vendor: vendor.id) }

            let environment = try MoneyWorld.environment(sandboxURL: world.sandboxURL, namespace: harness.namespace)
                .merging(["CITYOS_WORKERS_HEARTBEAT_TTL_SECONDS": "1", "CITYOS_LOG_LEVEL": "info"]) { $1 }
            try await harness.client.enqueue(PayoutsRunJob.self, .init(tenantID: tenant))

            // 1. Killed after Stripe made the first transfer, before the payout was marked paid.
            try await self.runUntilKilled(environment, failpoint: "payouts.vendor.after_transfer")
            let afterFirst = try await world.transfers(to: vendors.map(\.account))
            XCTAssertEqual(afterFirst, 1, "the first worker died right after one transfer")
            // 2. Its redelivery killed again, before calling Stripe.
            try await self.runUntilKilled(environment, failpoint: "payouts.vendor.before_transfer")
            // 3. A healthy worker finishes; then a second payouts.run finds nothing new to pay.
            let worker = try ChildProcess(arguments: ["work", "--queues", "payouts", "--concurrency", "4"], environment: environment)
            defer { worker.signal(SIGKILL) }
            try await eventually(timeout: .seconds(30), "every vendor paid; log: \(worker.logPath)") {
                for vendor in vendors where try await world.payouts(tenant, vendor: vendor.id).map(\.status) != ["paid"] {
                    return false
                }
                return true
            }
            try await harness.client.enqueue(PayoutsRunJob.self, .init(tenantID: tenant))
            try await eventually(timeout: .seconds(20), "the second run finished") {
                let queue = try await harness.queue("payouts")
                return (queue?.processed ?? 0) >= 1 + 3 + 1 && queue?.ready == 0 && queue?.inFlight == 0
            }
            for vendor in vendors {
                let transfers = try await world.transfers(to: vendor.account)
                XCTAssertEqual(transfers.map(\.amount), [Int(owed[vendor.id]!)], "one transfer, of the ledger balance")
                let payouts = try await world.payouts(tenant, vendor: vendor.id)
                XCTAssertEqual(payouts.map(\.status), ["paid"])
                XCTAssertEqual(payouts.first?.transfer, transfers.first?.id)
                let balance = try await world.balance(tenant, vendor: vendor.id)
                XCTAssertEqual(balance, 0)
            }
            let dead = try await harness.queue("payouts")?.dead ?? 0
            XCTAssertEqual(dead, 0)
            worker.signal(SIGTERM)
            _ = try await worker.waitForExit()
            try await harness.clean()
        }
    }

    func testOnePayoutKilledAfterTheTransferTwiceInARowThenBeforeItIsOneTransfer() async throws {
        try await MoneyWorld.run { world in
            let harness = try QueueHarness(registry: world.registry, label: "money")
            let tenant = try await world.makeTenant()
            try await world.setRule(tenant, basisPoints: 1_000, flat: 30)
            let (vendor, account) = try await world.makeVendor(tenant)
            let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(),
                                                           lines: [.init(vendorID: vendor, quantity: 3, unitAmount: 3_333)])
            try await world.run(world.calculate, .init(order: order), tenant: tenant)
            let owed = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(owed, 9_999 - 1_000 - 30)

            // Three deaths while holding the one job would make it a dead letter at the default
            // crash limit (a job that kills its process); this test is about the kills' safety.
            let environment = try MoneyWorld.environment(sandboxURL: world.sandboxURL, namespace: harness.namespace)
                .merging(["CITYOS_WORKERS_HEARTBEAT_TTL_SECONDS": "1", "CITYOS_WORKERS_CRASH_LIMIT": "10"]) { $1 }
            try await harness.client.enqueue(PayoutsVendorJob.self, .init(vendorID: vendor),
                                             options: .init(tenant: tenant.uuidString.lowercased()))
            for failpoint in ["payouts.vendor.after_transfer", "payouts.vendor.after_transfer", "payouts.vendor.before_transfer"] {
                try await self.runUntilKilled(environment, failpoint: failpoint)
                let pending = try await world.payouts(tenant, vendor: vendor)
                XCTAssertEqual(pending.map(\.status), ["pending"], "after a crash at \(failpoint) the payout waits, pending")
            }
            let replays = try await world.stripeTransferCalls()
            XCTAssertEqual(replays, 2, "two calls reached Stripe, the second replayed by its key")

            let worker = try ChildProcess(arguments: ["work", "--queues", "payouts"], environment: environment)
            defer { worker.signal(SIGKILL) }
            try await eventually(timeout: .seconds(30), "the payout was paid; log: \(worker.logPath)") {
                try await world.payouts(tenant, vendor: vendor).map(\.status) == ["paid"]
            }
            let transfers = try await world.transfers(to: try XCTUnwrap(account))
            XCTAssertEqual(transfers.map(\.amount), [Int(owed)], "one transfer, of the ledger balance")
            let balance = try await world.balance(tenant, vendor: vendor)
            XCTAssertEqual(balance, 0)
            worker.signal(SIGTERM)
            _ = try await worker.waitForExit()
            try await harness.clean()
        }
    }

    /// Starts a worker that dies at `failpoint`, and waits for it to die.
    private func runUntilKilled(_ environment: [String: String], failpoint: String) async throws {
        let worker = try ChildProcess(arguments: ["work", "--queues", "payouts", "--concurrency", "1"],
                                      environment: environment.merging(["CITYOS_FAILPOINTS": failpoint]) { $1 })
        let status = try await worker.waitForExit(timeout: .seconds(30))
        XCTAssertTrue(worker.log.contains("failpoint \(failpoint)"), "the worker died at \(failpoint); log: \(worker.logPath)")
        XCTAssertNotEqual(status, 0)
    }
}

extension MoneyWorld {
    /// How many `POST /v1/transfers` calls reached the sandbox's Stripe (replays included).
    func stripeTransferCalls() async throws -> Int {
        var request = HTTPClientRequest(url: sandboxURL + "/_sandbox/calls")
        request.method = .GET
        let response = try await http.execute(request, timeout: .seconds(10))
        let data = Data((try await response.body.collect(upTo: 16 << 20)).readableBytesView)
        let calls = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["calls"] as? [String: Any]
        return (calls?["POST /stripe/v1/transfers"] as? [String: Any])?["count"] as? Int ?? 0
    }

    /// How many transfers the sandbox made to any of `destinations`.
    func transfers(to destinations: [String]) async throws -> Int {
        var count = 0
        for destination in destinations { count += try await transfers(to: destination).count }
        return count
    }
}
