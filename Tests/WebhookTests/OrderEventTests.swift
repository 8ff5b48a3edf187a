import CityOSTesting
import Connectors
import Foundation
import Jobs
import XCTest

/// Medusa order events, Fleetbase delivery events and ERPNext invoice events through the real
/// ingress and workers, against the sandbox and PostgreSQL.
final class OrderEventTests: XCTestCase {
    /// 2 × 12.50 USD at the vendor's 10 %: earning +2500, commission −250.
    static let booked = ["commission -250", "earning 2500"]

    func testOrderPlacedDeliveredThreeTimesWithOneEventIDDoesItsWorkOnce() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let vendor = try await world.makeVendor(tenant)
            let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor)
            let event = DispatchWorld.medusaEvent("order.placed", id: order, tenant: tenant)
            let eventID = try XCTUnwrap(event["id"] as? String)
            for _ in 0..<3 { try await world.post(.medusa, event) }

            let row = try await world.settled("medusa", eventID, as: "processed")
            XCTAssertEqual(row.tenant, tenant)
            let ledger = try await world.ledger(tenant, medusaOrder: order)
            XCTAssertEqual(ledger, Self.booked)
            let fulfilment = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertNotNil(fulfilment?.deliveryID)
            XCTAssertNotNil(fulfilment?.invoiceName)
            XCTAssertEqual(fulfilment?.accountingStatus, "invoiced")
            let (deliveries, documents) = try await world.sandboxDocuments()
            XCTAssertEqual(deliveries, [try XCTUnwrap(fulfilment?.deliveryID)])
            XCTAssertEqual(documents, [try XCTUnwrap(fulfilment?.invoiceName)])
            let delivery = try await world.connectors.fleetbase.order(id: try XCTUnwrap(fulfilment?.deliveryID))
            XCTAssertEqual(delivery.internalID, order)
        }
    }

    func testOrderPlacedAsThreeEventsWithDifferentIDsDoesItsWorkOnce() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let vendor = try await world.makeVendor(tenant)
            let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor)
            let events = (0..<3).map { _ in DispatchWorld.medusaEvent("order.placed", id: order, tenant: tenant) }
            // Posted back to back: the workers (4 at a time) run them concurrently.
            for event in events { try await world.post(.medusa, event) }
            for event in events {
                try await world.settled("medusa", try XCTUnwrap(event["id"] as? String), as: "processed")
            }
            let ledger = try await world.ledger(tenant, medusaOrder: order)
            XCTAssertEqual(ledger, Self.booked, "commissions booked once")
            let (deliveries, documents) = try await world.sandboxDocuments()
            XCTAssertEqual(deliveries.count, 1, "one delivery order: \(deliveries)")
            XCTAssertEqual(documents.count, 1, "one sales invoice: \(documents)")
            let fulfilment = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertEqual(fulfilment?.deliveryID, deliveries.first)
            XCTAssertEqual(fulfilment?.invoiceName, documents.first)
        }
    }

    func testADeliveryAndInvoiceLeftByACrashedAttemptAreFoundNotMadeAgain() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let vendor = try await world.makeVendor(tenant)
            let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor)
            // What an attempt that crashed after its outside calls, before its commit, left behind.
            let place = FleetbasePlace(street1: "1 Warehouse Way")
            let delivery = try await world.connectors.fleetbase.createOrder(
                pickup: place, dropoff: place, internalID: order,
                meta: ["tenant_id": .string(tenant.uuidString.lowercased()), "order_id": .string(order)])
            let invoice = try await world.connectors.erpnext.createSalesInvoice(
                customer: "cus_webhook_test", currency: "USD",
                lines: [ERPNextInvoiceLine(itemCode: "variant_lamp", quantity: 2, unitPrice: Money(minorUnits: 1250, currency: "usd"))],
                dueDate: "2030-01-31", remarks: "CityOS order \(order)")

            try await world.handleOrderPlaced(order, tenant: tenant)
            let fulfilment = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertEqual(fulfilment?.deliveryID, delivery.id)
            XCTAssertEqual(fulfilment?.invoiceName, invoice.name)
            let (deliveries, documents) = try await world.sandboxDocuments()
            XCTAssertEqual(deliveries, [delivery.id])
            XCTAssertEqual(documents, [invoice.name])
        }
    }

    /// Another tenant's delivery for an order numbered alike (two stores, one Fleetbase) is not
    /// taken for the one a crashed attempt of this order made: this order gets its own.
    func testADeliveryOfAnotherTenantWithTheSameOrderNumberIsNotAdopted() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let other = try await world.makeTenant()
            let vendor = try await world.makeVendor(tenant)
            let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor)
            let place = FleetbasePlace(street1: "9 Elsewhere Road")
            let theirs = try await world.connectors.fleetbase.createOrder(
                pickup: place, dropoff: place, internalID: order,
                meta: ["tenant_id": .string(other.uuidString.lowercased()), "order_id": .string(order)])

            try await world.handleOrderPlaced(order, tenant: tenant)
            let fulfilment = try await world.fulfilment(tenant, medusaOrder: order)
            let ours = try XCTUnwrap(fulfilment?.deliveryID)
            XCTAssertNotEqual(ours, theirs.id, "the other tenant's delivery was adopted")
            let (deliveries, _) = try await world.sandboxDocuments()
            XCTAssertEqual(Set(deliveries), [theirs.id, ours])
            let made = try await world.connectors.fleetbase.order(id: ours)
            XCTAssertEqual(made.meta?["tenant_id"], .string(tenant.uuidString.lowercased()))
        }
    }

    /// Fleetbase refusing the delivery (an address it cannot place) dead-letters the event with
    /// the reason, after the commissions and the invoice: the order is not left uninvoiced. Sent
    /// again once the address is right, it makes the delivery and no second invoice.
    func testARefusedDeliveryLeavesTheOrderInvoicedAndTheEventDeadLettered() async throws {
        try await DispatchWorld.run { world in
            let (tenant, order, row) = try await Self.placedWhileFleetbaseAnswers(422, world)
            XCTAssertEqual(row.attempts, 1, "a refusal is not retried")
            let ledger = try await world.ledger(tenant, medusaOrder: order)
            XCTAssertEqual(ledger, Self.booked, "commissions booked")
            let invoiced = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertNotNil(invoiced?.invoiceName, "invoiced although the delivery was refused")
            XCTAssertNil(invoiced?.deliveryID)
            XCTAssertEqual(invoiced?.deliveryStatus, "refused", "the row says what is missing")

            try await world.handleOrderPlaced(order, tenant: tenant)
            let (deliveries, documents) = try await world.sandboxDocuments()
            XCTAssertEqual(deliveries.count, 1)
            XCTAssertEqual(documents, [try XCTUnwrap(invoiced?.invoiceName)], "no second invoice")
            let done = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertEqual(done?.deliveryID, deliveries.first)
            XCTAssertEqual(done?.deliveryStatus, "created")
        }
    }

    /// Fleetbase refusing our credentials is not the order's delivery being refused: the event is
    /// dead-lettered with the reason, and the row does not say `refused`.
    func testACredentialsFailureDoesNotMarkTheDeliveryRefused() async throws {
        try await DispatchWorld.run { world in
            let (tenant, order, _) = try await Self.placedWhileFleetbaseAnswers(401, world)
            let fulfilment = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertNotNil(fulfilment?.invoiceName)
            XCTAssertNil(fulfilment?.deliveryStatus, "not the order's refusal")
        }
    }

    /// An order with a drop-off address and no pickup address: dead-lettered with the reason,
    /// after its commissions and invoice. Canceled before it was booked, it needs no delivery, and
    /// the missing address fails nothing.
    func testAMissingPickupAddressFailsOnlyAnOrderThatIsToBeDelivered() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let vendor = try await world.makeVendor(tenant)
            let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor, pickup: false)
            let placed = DispatchWorld.medusaEvent("order.placed", id: order, tenant: tenant)
            try await world.post(.medusa, placed)
            let row = try await world.settled("medusa", try XCTUnwrap(placed["id"] as? String), as: "failed")
            XCTAssertTrue(row.error?.contains("no pickup_address") == true, String(describing: row.error))
            let booked = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertNotNil(booked?.invoiceName, "invoiced")
            XCTAssertEqual(booked?.deliveryStatus, "refused")

            let canceledFirst = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor, pickup: false)
            let canceled = DispatchWorld.medusaEvent("order.canceled", id: canceledFirst, tenant: tenant)
            try await world.post(.medusa, canceled)
            try await world.settled("medusa", try XCTUnwrap(canceled["id"] as? String), as: "processed")
            try await world.handleOrderPlaced(canceledFirst, tenant: tenant)
            let none = try await world.fulfilment(tenant, medusaOrder: canceledFirst)
            XCTAssertEqual(none?.canceled, true)
            XCTAssertNil(none?.deliveryID)
            XCTAssertNil(none?.deliveryStatus, "nothing refused: nothing was to be delivered")
        }
    }

    func testOrderPlacedWithoutAnOrderIDFailsWithTheReasonAndIsDeadLettered() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let eventID = "evt_no_id_" + UUID().uuidString
            try await world.post(.medusa, ["id": eventID, "type": "order.placed", "data": [:],
                                           "tenant_id": tenant.uuidString.lowercased()])
            let row = try await world.settled("medusa", eventID, as: "failed")
            XCTAssertTrue(row.error?.contains("has no data.id") == true, String(describing: row.error))
            XCTAssertEqual(row.attempts, 1, "a missing field is not retried")
            try await eventually("the event to be dead-lettered") { try await world.queue.queue("webhooks")?.dead == 1 }
        }
    }

    func testLateDeliveryAndInvoiceEventsNeverMoveTheOrderBackwards() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let vendor = try await world.makeVendor(tenant)
            let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor)
            try await world.handleOrderPlaced(order, tenant: tenant)
            let fulfilment = try await world.fulfilment(tenant, medusaOrder: order)
            let delivery = try XCTUnwrap(fulfilment?.deliveryID)
            let invoice = try XCTUnwrap(fulfilment?.invoiceName)

            // Fleetbase: completed at 10:05, then a late `started` stamped 10:01.
            func fleetbase(_ type: String, _ status: String, at time: String) -> [String: Any] {
                ["id": "event_" + UUID().uuidString.replacingOccurrences(of: "-", with: ""), "api_version": "v1", "event": type,
                 "created_at": time, "tenant_id": tenant.uuidString.lowercased(),
                 "data": ["id": delivery, "status": status, "internal_id": order, "updated_at": time]]
            }
            let completed = fleetbase("order.completed", "completed", at: "2030-01-01T10:05:00.000Z")
            let late = fleetbase("order.updated", "started", at: "2030-01-01T10:01:00.000Z")
            try await world.post(.fleetbase, completed)
            try await world.settled("fleetbase", try XCTUnwrap(completed["id"] as? String), as: "processed")
            try await world.post(.fleetbase, late)
            try await world.settled("fleetbase", try XCTUnwrap(late["id"] as? String), as: "ignored")
            let afterDelivery = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertEqual(afterDelivery?.deliveryStatus, "completed")

            // ERPNext: the invoice is paid (a Payment Entry), then its old `Unpaid` submission arrives late.
            let payment = try await world.connectors.erpnext.createPaymentEntry(
                customer: "cus_webhook_test", amount: Money(minorUnits: 2500, currency: "usd"), paidTo: "Bank - C",
                referenceNumber: "pi_test", referenceDate: "2030-01-01", invoice: invoice)
            let paymentEvent: [String: Any] = [
                "doctype": "Payment Entry", "name": payment.name, "event": "on_submit", "modified": payment.modified ?? "",
                "data": ["references": [["reference_doctype": "Sales Invoice", "reference_name": invoice]]]]
            try await world.post(.erpnext, paymentEvent)
            let paymentID = "Payment Entry:\(payment.name):on_submit:\(payment.modified ?? "")"
            let paid = try await world.settled("erpnext", paymentID, as: "processed")
            XCTAssertEqual(paid.tenant, nil, "ERPNext names no tenant: the handler finds the order by its invoice")
            // ERPNext names invoices alike in every sandbox (and every tenant's ERPNext): the
            // remarks tell this order's invoice from earlier tests' of the same name.
            let modified = String(format: "2000-01-01 00:00:00.%06d", Int.random(in: 0..<1_000_000))
            let lateInvoice: [String: Any] = [
                "doctype": "Sales Invoice", "name": invoice, "event": "on_submit", "modified": modified,
                "data": ["name": invoice, "status": "Unpaid", "remarks": "CityOS order \(order)"]]
            try await world.post(.erpnext, lateInvoice)
            try await world.settled("erpnext", "Sales Invoice:\(invoice):on_submit:\(modified)", as: "ignored")
            let afterInvoice = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertEqual(afterInvoice?.accountingStatus, "paid")
        }
    }

    /// order.canceled before order.placed (a late or replayed placement): the cancellation is kept;
    /// the order is then booked canceled, its commissions reversed, with no delivery or invoice.
    func testACancellationBeforeItsOrderIsBookedCanceledWithNothingToDeliverOrInvoice() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let vendor = try await world.makeVendor(tenant)
            let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor)
            let canceled = DispatchWorld.medusaEvent("order.canceled", id: order, tenant: tenant)
            try await world.post(.medusa, canceled)
            try await world.settled("medusa", try XCTUnwrap(canceled["id"] as? String), as: "processed")
            let before = try await world.sandboxDocuments()

            try await world.handleOrderPlaced(order, tenant: tenant)
            try await Self.assertBookedCanceledWithNothingSentOut(world, tenant: tenant, order: order, before: before)
        }
    }

    func testOrderCanceledReversesCommissionsOnceAndCancelsTheDelivery() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let vendor = try await world.makeVendor(tenant)
            let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor)
            try await world.handleOrderPlaced(order, tenant: tenant)

            let cancellations = (0..<2).map { _ in DispatchWorld.medusaEvent("order.canceled", id: order, tenant: tenant) }
            for event in cancellations {
                try await world.post(.medusa, event)
                try await world.settled("medusa", try XCTUnwrap(event["id"] as? String), as: "processed")
            }
            let ledger = try await world.ledger(tenant, medusaOrder: order)
            XCTAssertEqual(ledger, ["commission -250", "earning 2500", "reversal -2500", "reversal 250"])
            let fulfilment = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertEqual(fulfilment?.canceled, true)
            let delivery = try await world.connectors.fleetbase.order(id: try XCTUnwrap(fulfilment?.deliveryID))
            XCTAssertEqual(delivery.status, "canceled")
            let invoice = try await world.connectors.erpnext.document(doctype: "Sales Invoice", name: try XCTUnwrap(fulfilment?.invoiceName))
            XCTAssertEqual(invoice.docstatus, 2, "the unpaid invoice is cancelled in ERPNext")
            XCTAssertEqual(fulfilment?.accountingStatus, "cancelled")
        }
    }

    /// Medusa's usual order of events, both before the order is booked: canceled, then refunded.
    /// The order stays canceled (a refund does not move it back to refunded), so it is neither
    /// delivered nor invoiced, and its commissions are reversed once.
    func testACancellationThenARefundBeforeTheOrderIsBookedStaysCanceled() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let vendor = try await world.makeVendor(tenant)
            let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor)
            let canceled = DispatchWorld.medusaEvent("order.canceled", id: order, tenant: tenant)
            try await world.post(.medusa, canceled)
            try await world.settled("medusa", try XCTUnwrap(canceled["id"] as? String), as: "processed")
            let charge: [String: Any] = ["id": "ch_" + UUID().uuidString.prefix(8), "object": "charge", "amount": 2500,
                                         "amount_refunded": 2500, "refunded": true,
                                         "metadata": ["order_id": order, "tenant_id": tenant.uuidString.lowercased()]]
            let refunded = StripeEventTests.event("charge.refunded", object: charge)
            try await world.post(.stripe, refunded)
            try await world.settled("stripe", try XCTUnwrap(refunded["id"] as? String), as: "processed")
            let before = try await world.sandboxDocuments()

            try await world.handleOrderPlaced(order, tenant: tenant)
            let statuses = try await world.values(tenant, "SELECT status FROM orders WHERE external_id = '\(order)'", as: String.self)
            XCTAssertEqual(statuses, ["canceled"])
            try await Self.assertBookedCanceledWithNothingSentOut(world, tenant: tenant, order: order, before: before)
        }
    }

    /// Fleetbase refusing to cancel the delivery for good (our status lagged, or it is gone there)
    /// does not keep the unpaid invoice open: the customer is not billed for a canceled order.
    func testARefusedDeliveryCancellationStillCancelsTheInvoice() async throws {
        try await DispatchWorld.run { world in
            let tenant = try await world.makeTenant()
            let vendor = try await world.makeVendor(tenant)
            let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor)
            try await world.handleOrderPlaced(order, tenant: tenant)
            let scripted = try await world.sandbox("POST", "/_sandbox/script",
                                                   ["kind": "fail", "endpoint": "DELETE /fleetbase/v1/orders/{id}/cancel", "status": 422, "times": 1])
            XCTAssertNil(scripted["error"], "the sandbox took the script: \(scripted)")
            let canceled = DispatchWorld.medusaEvent("order.canceled", id: order, tenant: tenant)
            try await world.post(.medusa, canceled)
            try await world.settled("medusa", try XCTUnwrap(canceled["id"] as? String), as: "processed")
            let fulfilment = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertEqual(fulfilment?.canceled, true)
            let delivery = try await world.connectors.fleetbase.order(id: try XCTUnwrap(fulfilment?.deliveryID))
            XCTAssertNotEqual(delivery.status, "canceled", "Fleetbase refused the cancellation")
            let invoice = try await world.connectors.erpnext.document(doctype: "Sales Invoice", name: try XCTUnwrap(fulfilment?.invoiceName))
            XCTAssertEqual(invoice.docstatus, 2, "the unpaid invoice is cancelled in ERPNext")
            XCTAssertEqual(fulfilment?.accountingStatus, "cancelled")
        }
    }

    /// ERPNext refusing to cancel an unpaid invoice for another reason (Frappe answers 417 to any
    /// validation error, e.g. the invoice edited at the same moment) is tried again, not taken for
    /// a payment: the next attempt cancels it.
    func testAnUnpaidInvoiceWhoseCancellationIsRefusedOnceIsCancelledByTheRetry() async throws {
        try await DispatchWorld.run { world in
            let (tenant, order) = try await Self.bookedOrderWithoutDelivery(world)
            let scripted = try await world.sandbox("POST", "/_sandbox/script", [
                "kind": "fail", "endpoint": "POST /erpnext/api/method/frappe.client.cancel", "status": 417, "times": 1])
            XCTAssertNil(scripted["error"], "the sandbox took the script: \(scripted)")
            let row = try await Self.cancel(order, tenant: tenant, world)
            XCTAssertEqual(row.attempts, 2, "refused once, then cancelled")
            let fulfilment = try await world.fulfilment(tenant, medusaOrder: order)
            let invoice = try await world.connectors.erpnext.document(doctype: "Sales Invoice", name: try XCTUnwrap(fulfilment?.invoiceName))
            XCTAssertEqual(invoice.docstatus, 2)
            XCTAssertEqual(fulfilment?.accountingStatus, "cancelled")
        }
    }

    /// An invoice with a payment on it is not cancelled: ERPNext refuses, the status read back says
    /// why, and it is left to accounting (a credit note) without retrying.
    func testAPartlyPaidInvoiceOfACanceledOrderIsLeftToAccounting() async throws {
        try await DispatchWorld.run { world in
            let (tenant, order) = try await Self.bookedOrderWithoutDelivery(world)
            let booked = try await world.fulfilment(tenant, medusaOrder: order)
            let name = try XCTUnwrap(booked?.invoiceName)
            _ = try await world.connectors.erpnext.createPaymentEntry(
                customer: "cus_webhook_test", amount: Money(minorUnits: 1000, currency: "usd"), paidTo: "Bank - C",
                referenceNumber: "pi_partly", referenceDate: "2030-01-01", invoice: name)
            let row = try await Self.cancel(order, tenant: tenant, world)
            XCTAssertEqual(row.attempts, 1, "not retried")
            let invoice = try await world.connectors.erpnext.document(doctype: "Sales Invoice", name: name)
            XCTAssertEqual(invoice.docstatus, 1, "still submitted")
            XCTAssertEqual(invoice.status, "Partly Paid")
            let fulfilment = try await world.fulfilment(tenant, medusaOrder: order)
            XCTAssertNotEqual(fulfilment?.accountingStatus, "cancelled")
        }
    }

    /// A new tenant's order, with a delivery, whose `order.placed` meets Fleetbase answering
    /// `status` to the delivery's creation: the event fails, and its inbox row is returned.
    private static func placedWhileFleetbaseAnswers(_ status: Int, _ world: DispatchWorld) async throws
        -> (tenant: UUID, order: String, row: DispatchWorld.InboxRow) {
        let tenant = try await world.makeTenant()
        let vendor = try await world.makeVendor(tenant)
        let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor)
        let scripted = try await world.sandbox("POST", "/_sandbox/script",
                                               ["kind": "fail", "endpoint": "POST /fleetbase/v1/orders", "status": status, "times": 1])
        XCTAssertNil(scripted["error"], "the sandbox took the script: \(scripted)")
        let placed = DispatchWorld.medusaEvent("order.placed", id: order, tenant: tenant)
        try await world.post(.medusa, placed)
        let row = try await world.settled("medusa", try XCTUnwrap(placed["id"] as? String), as: "failed")
        XCTAssertTrue(row.error?.contains("Fleetbase delivery") == true, String(describing: row.error))
        return (tenant, order, row)
    }

    /// A new tenant's order, placed and booked (commissions and invoice), with nothing to deliver.
    private static func bookedOrderWithoutDelivery(_ world: DispatchWorld) async throws -> (tenant: UUID, order: String) {
        let tenant = try await world.makeTenant()
        let vendor = try await world.makeVendor(tenant)
        let order = try await world.placeMedusaOrder(tenant: tenant, vendor: vendor, delivery: false)
        try await world.handleOrderPlaced(order, tenant: tenant)
        return (tenant, order)
    }

    /// Posts `order.canceled` for `order` and waits until it is processed (30 s: after retries).
    private static func cancel(_ order: String, tenant: UUID, _ world: DispatchWorld) async throws -> DispatchWorld.InboxRow {
        let canceled = DispatchWorld.medusaEvent("order.canceled", id: order, tenant: tenant)
        try await world.post(.medusa, canceled)
        return try await world.settled("medusa", try XCTUnwrap(canceled["id"] as? String), as: "processed", timeout: .seconds(30))
    }

    /// The order is booked with its commissions reversed once, its fulfilment canceled, and no
    /// delivery or invoice was made for it (the sandbox holds as many as `before`).
    private static func assertBookedCanceledWithNothingSentOut(_ world: DispatchWorld, tenant: UUID, order: String,
                                                               before: (deliveries: [String], documents: [String]),
                                                               file: StaticString = #filePath, line: UInt = #line) async throws {
        let ledger = try await world.ledger(tenant, medusaOrder: order)
        XCTAssertEqual(ledger, ["commission -250", "earning 2500", "reversal -2500", "reversal 250"], file: file, line: line)
        let fulfilment = try await world.fulfilment(tenant, medusaOrder: order)
        XCTAssertEqual(fulfilment?.canceled, true, file: file, line: line)
        XCTAssertNil(fulfilment?.deliveryID, "no delivery for a canceled order", file: file, line: line)
        XCTAssertNil(fulfilment?.invoiceName, "no invoice for a canceled order", file: file, line: line)
        let after = try await world.sandboxDocuments()
        XCTAssertEqual(after.deliveries.count, before.deliveries.count, file: file, line: line)
        XCTAssertEqual(after.documents.count, before.documents.count, file: file, line: line)
    }
}
