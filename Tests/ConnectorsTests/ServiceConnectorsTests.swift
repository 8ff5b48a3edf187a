import CityOSTesting
import Connectors
import Foundation
import XCTest

/// Medusa, Payload, Fleetbase and ERPNext through their connectors against the sandbox.
final class ServiceConnectorsTests: XCTestCase {
    var sandbox: SandboxHarness!
    var connectors: Connectors!

    override func setUp() async throws {
        sandbox = try await SandboxHarness.start()
        connectors = try sandbox.connectors()
    }

    override func tearDown() async throws {
        await connectors?.shutdown()
        await sandbox?.stop()
    }

    private var medusaHeaders: [String: String] {
        ["Authorization": "Basic " + Data("sk_medusa_test:".utf8).base64EncodedString(), "Content-Type": "application/json"]
    }

    func testMedusaProductsWithPricesAsExactMoneyAndUpdates() async throws {
        let created = try await sandbox.raw("POST", "/medusa/admin/products", headers: medusaHeaders, body: """
            {"title": "Tea", "description": "Green", "metadata": {"tenant_id": "acme", "legacy": "x"},
             "variants": [{"title": "100 g", "sku": "TEA-100",
                           "prices": [{"amount": 19.99, "currency_code": "usd"}, {"amount": 1500, "currency_code": "jpy"},
                                      {"amount": 4.125, "currency_code": "kwd"}]}]}
            """)
        let id = try XCTUnwrap((created.json["product"] as? [String: Any])?["id"] as? String)
        let product = try await connectors.medusa.product(id: id)
        XCTAssertEqual(product.title, "Tea")
        XCTAssertEqual(product.variants.first?.sku, "TEA-100")
        XCTAssertEqual(product.variants.first?.prices.map { $0.money }, [
            Money(minorUnits: 1999, currency: "usd"), Money(minorUnits: 1500, currency: "jpy"),
            Money(minorUnits: 4125, currency: "kwd")])

        let updated = try await connectors.medusa.updateProduct(
            id: id, MedusaProductUpdate(title: "Green Tea", metadata: ["cms_id": "42", "legacy": ""]))
        XCTAssertEqual(updated.title, "Green Tea")
        XCTAssertEqual(updated.description, "Green", "fields not sent stay as they were")
        XCTAssertEqual(updated.metadata?["cms_id"], "42")
        XCTAssertNil(updated.metadata?["legacy"], "an empty value removes a metadata key")
        XCTAssertEqual(updated.metadata?["tenant_id"], "acme")

        let page = try await connectors.medusa.products(limit: 10)
        XCTAssertEqual(page.count, 1)
        XCTAssertEqual(page.products.map(\.id), [id])

        do {
            _ = try await connectors.medusa.product(id: "prod_missing")
            XCTFail("unknown product")
        } catch {
            guard case .notFound(.medusa, _) = error else { return XCTFail("got \(error)") }
        }
    }

    func testMedusaOrderLinesInMinorUnits() async throws {
        let placed = try await sandbox.control("POST", "/_sandbox/medusa/orders", [
            "currency_code": "eur", "email": "a@example.com", "metadata": ["tenant_id": "acme"],
            "items": [["title": "Mug", "quantity": 3, "unit_price": 12.5, "product_id": "prod_1", "variant_id": "var_1"]]])
        let id = try XCTUnwrap((placed["order"] as? [String: Any])?["id"] as? String)
        let order = try await connectors.medusa.order(id: id)
        XCTAssertEqual(order.currency, "eur")
        XCTAssertEqual(order.items.first?.unitPrice, Money(minorUnits: 1250, currency: "eur"))
        XCTAssertEqual(order.items.first?.quantity, 3)
        XCTAssertEqual(order.total, Money(minorUnits: 3750, currency: "eur"))
        let orders = try await connectors.medusa.orders()
        XCTAssertEqual(orders.orders.map(\.id), [id])
    }

    struct ProductContent: Codable, Sendable, Equatable {
        var id: Int?
        var medusaProductId: String
        var title: String
        var seo: SEO?
        struct SEO: Codable, Sendable, Equatable { var description: String }
    }

    func testPayloadFindCreateAndUpdate() async throws {
        let created: ProductContent = try await connectors.payload.create(
            ProductContent(medusaProductId: "prod_1", title: "Tea"), as: ProductContent.self)
        let id = try XCTUnwrap(created.id)
        _ = try await connectors.payload.create(ProductContent(medusaProductId: "prod_2", title: "Mug"), as: ProductContent.self)

        let found = try await connectors.payload.find(ProductContent.self, where: "medusaProductId", equals: "prod_1")
        XCTAssertEqual(found.totalDocs, 1)
        XCTAssertEqual(found.docs.first?.title, "Tea")
        XCTAssertFalse(found.hasNextPage)

        struct Copy: Encodable { let seo: ProductContent.SEO }
        let updated = try await connectors.payload.update(id: String(id), Copy(seo: .init(description: "Fresh")),
                                                          as: ProductContent.self)
        XCTAssertEqual(updated.seo?.description, "Fresh")
        XCTAssertEqual(updated.title, "Tea")

        let none = try await connectors.payload.find(where: "medusaProductId", equals: "prod_404")
        XCTAssertEqual(none.totalDocs, 0)
        XCTAssertTrue(none.docs.isEmpty)
    }

    func testPayloadRefusesAWrongKeyInItsOwnShape() async throws {
        await connectors.shutdown()
        await sandbox.stop()
        sandbox = try await SandboxHarness.start(credentials: ["payload.api_key": "right"])
        connectors = try sandbox.connectors(["CITYOS_PAYLOAD_API_KEY": "wrong"])
        do {
            _ = try await connectors.payload.find(where: "slug", equals: "x")
            XCTFail("wrong key")
        } catch {
            XCTAssertEqual(error, .unauthorized(service: .payload, status: 403,
                                                message: "You are not allowed to perform this action."))
        }
    }

    func testFleetbaseOrderAndItsStatus() async throws {
        let order = try await connectors.fleetbase.createOrder(
            pickup: FleetbasePlace(name: "Store", street1: "1 Main St", city: "Riyadh", country: "SA"),
            dropoff: FleetbasePlace(street1: "2 High St", city: "Riyadh", country: "SA"),
            internalID: "order_medusa_1", meta: ["tenant_id": "acme"])
        XCTAssertTrue(order.id.hasPrefix("order_"))
        XCTAssertEqual(order.status, "created")
        XCTAssertEqual(order.internalID, "order_medusa_1")
        try await sandbox.control("POST", "/_sandbox/fleetbase/orders/\(order.id)/status", ["status": "dispatched"])
        let read = try await connectors.fleetbase.order(id: order.id)
        XCTAssertEqual(read.status, "dispatched")
        XCTAssertEqual(read.meta?["tenant_id"], "acme")
    }

    /// Cancelling a document that is already cancelled (the first call's answer was lost and it was
    /// sent again, or an earlier attempt did it) answers the cancelled document, not ERPNext's 417.
    func testERPNextCancellingTwiceAnswersTheCancelledDocument() async throws {
        let invoice = try await connectors.erpnext.createSalesInvoice(
            customer: "ACME", currency: "usd",
            lines: [ERPNextInvoiceLine(itemCode: "FEE", quantity: 1, unitPrice: Money(minorUnits: 500, currency: "usd"))],
            dueDate: "2025-02-28", remarks: "cancel-twice")
        let first = try await connectors.erpnext.cancel(doctype: "Sales Invoice", name: invoice.name)
        XCTAssertEqual(first.docstatus, 2)
        let again = try await connectors.erpnext.cancel(doctype: "Sales Invoice", name: invoice.name)
        XCTAssertEqual(again.name, invoice.name)
        XCTAssertEqual(again.docstatus, 2)
    }

    func testERPNextInvoiceAndPaymentEntryInExactDecimals() async throws {
        let invoice = try await connectors.erpnext.createSalesInvoice(
            customer: "ACME", currency: "usd",
            lines: [ERPNextInvoiceLine(itemCode: "COMMISSION", quantity: 3, unitPrice: Money(minorUnits: 333, currency: "usd")),
                    ERPNextInvoiceLine(itemCode: "FEE", quantity: 1, unitPrice: Money(minorUnits: 1, currency: "usd"))],
            dueDate: "2025-02-28", remarks: "billing:acme:2025-01")
        XCTAssertTrue(invoice.name.hasPrefix("ACC-SINV-"))
        XCTAssertEqual(invoice.docstatus, 1)
        XCTAssertEqual(invoice.grandTotal, Decimal(string: "10.00"))

        let payment = try await connectors.erpnext.createPaymentEntry(
            customer: "ACME", amount: Money(minorUnits: 1000, currency: "usd"), paidTo: "Stripe - CO",
            referenceNumber: "pi_123", referenceDate: "2025-02-01", invoice: invoice.name)
        XCTAssertTrue(payment.name.hasPrefix("ACC-PAY-"))
        XCTAssertEqual(payment.paidAmount, Decimal(10))

        let paid = try await connectors.erpnext.document(doctype: "Sales Invoice", name: invoice.name)
        XCTAssertEqual(paid.name, invoice.name)

        do {
            _ = try await connectors.erpnext.createPaymentEntry(
                customer: "ACME", amount: Money(minorUnits: 1, currency: "usd"), paidTo: "Stripe - CO",
                referenceNumber: "pi_124", referenceDate: "2025-02-01", invoice: invoice.name)
            XCTFail("the invoice is paid in full")
        } catch {
            guard case .rejected(.erpnext, 417, "ValidationError", _) = error else { return XCTFail("got \(error)") }
        }
        do {
            _ = try await connectors.erpnext.createSalesInvoice(
                customer: "ACME", currency: "usd",
                lines: [ERPNextInvoiceLine(itemCode: "X", quantity: 1, unitPrice: Money(minorUnits: 1, currency: "eur"))],
                dueDate: "2025-02-28")
            XCTFail("mixed currencies")
        } catch {
            guard case .invalidRequest(.erpnext, _) = error else { return XCTFail("got \(error)") }
        }
    }
}
