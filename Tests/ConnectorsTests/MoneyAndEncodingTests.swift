import Connectors
import Foundation
import XCTest

/// Money stays integer minor units; decimals from Medusa and ERPNext convert exactly or not at all.
final class MoneyAndEncodingTests: XCTestCase {
    func testMajorUnitsConvertExactlyPerCurrencyExponent() throws {
        XCTAssertEqual(Money(majorUnits: Decimal(string: "19.99")!, currency: "USD"), Money(minorUnits: 1999, currency: "usd"))
        XCTAssertEqual(Money(majorUnits: Decimal(string: "0.1")! + Decimal(string: "0.2")!, currency: "usd")?.minorUnits, 30)
        XCTAssertEqual(Money(majorUnits: 1500, currency: "JPY")?.minorUnits, 1500)
        XCTAssertEqual(Money(majorUnits: Decimal(string: "1.005")!, currency: "kwd")?.minorUnits, 1005)
        XCTAssertNil(Money(majorUnits: Decimal(string: "10.005")!, currency: "usd"), "finer than a cent")
        XCTAssertNil(Money(majorUnits: Decimal(string: "1.5")!, currency: "jpy"), "yen have no minor unit")
        XCTAssertEqual(Money(minorUnits: 1050, currency: "usd").majorUnits, Decimal(string: "10.5"))
        XCTAssertEqual(Money(minorUnits: -7, currency: "usd").majorUnits, Decimal(string: "-0.07"))
    }

    /// Medusa v2's order total can carry its tax rounding's fractions of a cent, or be null: the
    /// order (whose lines carry the money) must still be read, or order.placed dies unread.
    func testAMedusaOrderWithASubCentOrNullTotalIsRead() throws {
        for total in ["34.116425", "null", "\"n/a\""] {
            let json = #"{"id":"order_1","currency_code":"usd","items":[{"id":"li_1","quantity":2,"unit_price":12.5}],"total":"#
                + total + "}"
            let order = try JSONDecoder().decode(MedusaOrder.self, from: Data(json.utf8))
            XCTAssertEqual(order.items.first?.unitPrice.minorUnits, 1_250, total)
            XCTAssertNil(order.total, total)
        }
        let whole = #"{"id":"order_2","currency_code":"usd","items":[],"total":25}"#
        XCTAssertEqual(try JSONDecoder().decode(MedusaOrder.self, from: Data(whole.utf8)).total?.minorUnits, 2_500)
    }

    /// A product whose price is finer than its currency's minor unit (10.005 USD) is left out of its
    /// page and named, instead of making the whole page (and every reconciliation run that reaches
    /// it) unreadable; where the next page starts counts it.
    func testAnUnreadableProductIsLeftOutOfItsPageAndNamed() throws {
        func product(_ id: String, _ amount: String) -> String {
            #"{"id":""# + id + #"","title":"T","variants":[{"id":"v_"# + id
                + #"","prices":[{"amount":"# + amount + #","currency_code":"usd"}]}]}"#
        }
        let json = #"{"products":["# + [product("p1", "10.5"), product("p2", "10.005"), product("p3", "7")].joined(separator: ",")
            + #"],"count":3,"offset":0,"limit":3}"#
        let page = try JSONDecoder().decode(MedusaProductPage.self, from: Data(json.utf8))
        XCTAssertEqual(page.products.map(\.id), ["p1", "p3"])
        XCTAssertEqual(page.unreadable.map(\.id), ["p2"])
        XCTAssertTrue(page.unreadable.first?.reason.contains("minor units") == true, page.unreadable.first?.reason ?? "")
        XCTAssertEqual(page.listed, 3)
        XCTAssertEqual(page.products.first?.variants.first?.prices.first?.money.minorUnits, 1_050)
    }

    /// Stripe's units are not always ISO 4217's minor units: ISK is two-decimal at Stripe (ISO:
    /// none), MGA zero-decimal (ISO: two), and three-decimal amounts go in multiples of 10.
    func testAmountsAreSentAndReadInStripesUnitsOfEachCurrency() throws {
        XCTAssertEqual(try StripeAmount.units(Money(minorUnits: 1_050, currency: "usd")), 1_050)
        XCTAssertEqual(try StripeAmount.units(Money(minorUnits: 1_050, currency: "jpy")), 1_050)
        XCTAssertEqual(try StripeAmount.units(Money(minorUnits: 1_000, currency: "isk")), 100_000, "1,000 ISK")
        XCTAssertEqual(try StripeAmount.units(Money(minorUnits: 150_000, currency: "mga")), 1_500, "1,500.00 MGA")
        XCTAssertEqual(try StripeAmount.units(Money(minorUnits: 1_010, currency: "kwd")), 1_010)
        XCTAssertThrowsError(try StripeAmount.units(Money(minorUnits: 150_050, currency: "mga")), "1,500.50 MGA: whole ariary only")
        XCTAssertThrowsError(try StripeAmount.units(Money(minorUnits: 1_005, currency: "kwd")), "1.005 KWD: multiples of 0.010")
        XCTAssertEqual(StripeAmount.money(100_000, currency: "isk"), Money(minorUnits: 1_000, currency: "isk"))
        XCTAssertEqual(StripeAmount.money(1_500, currency: "mga"), Money(minorUnits: 150_000, currency: "mga"))
        XCTAssertEqual(StripeAmount.money(1_050, currency: "usd"), Money(minorUnits: 1_050, currency: "usd"))
        XCTAssertEqual(StripeAmount.money(.max / 10, currency: "mga"), Money(minorUnits: .max, currency: "mga"),
                       "too large for Money: the largest, not a wrapped amount")
    }

    func testJSONNumbersDecodeExactly() throws {
        let json = try JSONDecoder().decode(JSON.self, from: Data(#"{"a": 19.99, "b": 0.3, "c": 12345678901.23}"#.utf8))
        guard case .number(let a)? = json["a"], case .number(let b)? = json["b"], case .number(let c)? = json["c"] else {
            return XCTFail("numbers expected")
        }
        XCTAssertEqual(Money(majorUnits: a, currency: "usd")?.minorUnits, 1999)
        XCTAssertEqual(Money(majorUnits: b, currency: "usd")?.minorUnits, 30)
        XCTAssertEqual(Money(majorUnits: c, currency: "usd")?.minorUnits, 1_234_567_890_123)
    }

    func testFormEncodingIsStripesNestedForm() {
        var form = FormParameters()
        form.add("amount", 1000)
        form.add("currency", "usd")
        form.add("off_session", true)
        form.add("description", "Tea & cakes = 2")
        form.add("metadata", ["tenant_id": "acme", "order": "ord 1"])
        XCTAssertEqual(form.encoded, "amount=1000&currency=usd&off_session=true&description=Tea%20%26%20cakes%20%3D%202"
                       + "&metadata%5Border%5D=ord%201&metadata%5Btenant_id%5D=acme")
    }

    func testErrorsSayWhetherARetryCanHelp() {
        let declined = ConnectorError.declined(service: .stripe, code: "card_declined", declineCode: "lost_card",
                                               message: "Your card was declined.", paymentIntentID: "pi_1")
        XCTAssertFalse(declined.isRetryable)
        XCTAssertTrue(ConnectorError.rateLimited(service: .stripe, retryAfter: .seconds(2)).isRetryable)
        XCTAssertEqual(ConnectorError.rateLimited(service: .stripe, retryAfter: .seconds(2)).retryAfter, .seconds(2))
        XCTAssertTrue(ConnectorError.unreachable(service: .medusa, reason: "refused").isRetryable)
        XCTAssertFalse(ConnectorError.unreachable(service: .medusa, reason: "refused").mayHaveTakenEffect)
        XCTAssertFalse(ConnectorError.rejected(service: .erpnext, status: 417, code: nil, message: "x").isRetryable)
    }

    func testCredentialsNeverPrint() {
        XCTAssertEqual("\(Credential.stripe(secretKey: "sk_live_secret"))", "Credential(****)")
        XCTAssertEqual(Credential.medusa(apiKey: "sk_1").headerValue, "Basic " + Data("sk_1:".utf8).base64EncodedString())
        XCTAssertEqual(Credential.payload(collection: "users", apiKey: "k").headerValue, "users API-Key k")
        XCTAssertEqual(Credential.erpnext(apiKey: "a", apiSecret: "b").headerValue, "token a:b")
    }
}
