import CityOSTesting
import Foundation
import Jobs
import XCTest

/// order.placed through real `cityos work` processes killed on purpose right after ERPNext made
/// the invoice, then right after Fleetbase made the delivery — each before our commit: the order still
/// ends with one delivery, one invoice and its commissions booked once.
final class OrderCrashTests: XCTestCase {
    func testWorkersKilledAfterEachOutsideCreateLeaveOneDeliveryAndOneInvoice() async throws {
        try await DispatchWorld.run(workers: false) { world in
            let tenant = try await world.makeTenant()
            let vendor = try await world.makeVendor(tenant)
            let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor)
            let placed = DispatchWorld.medusaEvent("order.placed", id: order, tenant: tenant)
            let eventID = try XCTUnwrap(placed["id"] as? String)
            try await world.post(.medusa, placed)
            let environment = try world.childEnvironment

            // 1. Killed once ERPNext has the invoice, before its name is stored.
            try await Self.runUntilKilled(environment, failpoint: "order.placed.invoice_created")
            let afterFirst = try await world.sandboxDocuments()
            XCTAssertEqual(afterFirst.documents.count, 1)
            XCTAssertEqual(afterFirst.deliveries.count, 0)
            // 2. The redelivery finds that invoice, then is killed once Fleetbase has the delivery.
            try await Self.runUntilKilled(environment, failpoint: "order.placed.delivery_created")
            // 3. A healthy worker finishes.
            let worker = try ChildProcess(arguments: ["work", "--queues", "webhooks", "--concurrency", "2"], environment: environment)
            defer { worker.signal(SIGKILL) }
            let row = try await world.settled("medusa", eventID, as: "processed", timeout: .seconds(30))
            XCTAssertEqual(row.attempts, 3, "three deliveries of the event; log: \(worker.logPath)")

            let (deliveries, documents) = try await world.sandboxDocuments()
            XCTAssertEqual(deliveries.count, 1, "one delivery order: \(deliveries)")
            XCTAssertEqual(documents.count, 1, "one sales invoice: \(documents)")
            let fulfilment = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertEqual(fulfilment?.deliveryID, deliveries.first)
            XCTAssertEqual(fulfilment?.invoiceName, documents.first)
            let ledger = try await world.ledger(tenant, medusaOrder: order)
            XCTAssertEqual(ledger, OrderEventTests.booked)
            worker.signal(SIGTERM)
            _ = try await worker.waitForExit()
        }
    }

    private static func runUntilKilled(_ environment: [String: String], failpoint: String) async throws {
        let worker = try ChildProcess(arguments: ["work", "--queues", "webhooks", "--concurrency", "1"],
                                      environment: environment.merging(["CITYOS_FAILPOINTS": failpoint]) { $1 })
        let status = try await worker.waitForExit(timeout: .seconds(30))
        XCTAssertTrue(worker.log.contains("failpoint \(failpoint)"), "the worker died at \(failpoint); log: \(worker.logPath)")
        XCTAssertNotEqual(status, 0)
    }
}
