import Foundation
import Connectors
import Jobs
import XCTest

/// The decision for one product, field by field: owners win, echoes write nothing, and only a
/// change by the side that does not own a field is a conflict.
final class SyncPlanTests: XCTestCase {
    let agreed: [String: JSON] = ["title": "Lamp", "handle": "lamp", "status": "published", "variants": [],
                                  "description": "Bright", "seo_title": nil, "seo_description": nil]

    func testBothSidesAgreeingWritesNothing() {
        let plan = SyncPlan.decide(commerce: agreed, content: agreed, synced: agreed)
        XCTAssertTrue(plan.writesNothing)
        XCTAssertEqual(plan.conflicts, [])
        XCTAssertEqual(plan.agreed, agreed)
    }

    func testAnOwnersChangeIsCopiedWithoutAConflict() {
        var commerce = agreed
        commerce["handle"] = "lamp-2"
        var content = agreed
        content["description"] = "Brighter"
        let plan = SyncPlan.decide(commerce: commerce, content: content, synced: agreed)
        XCTAssertEqual(plan.toContent, ["handle": "lamp-2"])
        XCTAssertEqual(plan.toCommerce, ["description": "Brighter"])
        XCTAssertEqual(plan.conflicts, [])
    }

    func testTheSameFieldChangedOnBothSidesGoesToItsOwnerAndIsRecorded() {
        var commerce = agreed
        var content = agreed
        commerce["handle"] = "commerce-handle"
        content["handle"] = "content-handle"
        commerce["description"] = "commerce copy"
        content["description"] = "content copy"
        let plan = SyncPlan.decide(commerce: commerce, content: content, synced: agreed)
        XCTAssertEqual(plan.toContent, ["handle": "commerce-handle"])
        XCTAssertEqual(plan.toCommerce, ["description": "content copy"])
        XCTAssertEqual(plan.conflicts.map(\.field), ["handle", "description"])
        XCTAssertEqual(plan.conflicts.map(\.winner), [.commerce, .content])
        XCTAssertEqual(plan.conflicts.first?.commerceValue, "commerce-handle")
        XCTAssertEqual(plan.conflicts.first?.contentValue, "content-handle")
        XCTAssertTrue(plan.conflicts.allSatisfy { $0.reason.contains("both sides") })
    }

    func testANonOwnersChangeAloneIsUndoneAndRecorded() {
        var content = agreed
        content["handle"] = "edited-in-payload"
        let plan = SyncPlan.decide(commerce: agreed, content: content, synced: agreed)
        XCTAssertEqual(plan.toContent, ["handle": "lamp"])
        XCTAssertEqual(plan.conflicts.count, 1)
        XCTAssertEqual(plan.conflicts.first?.winner, .commerce)
        XCTAssertTrue(plan.conflicts.first?.reason.contains("restored") == true)
    }

    /// Medusa promises no order for a product's variants or a variant's prices: the same product
    /// listed in another order is the same commerce view, not a change to write at every run.
    func testTheCommerceViewDoesNotDependOnTheOrderMedusaListsIn() throws {
        func product(_ variants: [(String, [(String, String)])]) throws -> MedusaProduct {
            let list = variants.map { id, prices in
                #"{"id":""# + id + #"","prices":["# + prices.map { amount, currency in
                    #"{"amount":"# + amount + #","currency_code":""# + currency + #""}"#
                }.joined(separator: ",") + "]}"
            }.joined(separator: ",")
            return try JSONDecoder().decode(MedusaProduct.self, from: Data((#"{"id":"p","title":"T","variants":["# + list + "]}").utf8))
        }
        let one = try product([("v_a", [("10", "usd"), ("9", "eur")]), ("v_b", [("5", "usd")])])
        let other = try product([("v_b", [("5", "usd")]), ("v_a", [("9", "eur"), ("10", "usd")])])
        XCTAssertEqual(ProductFields.commerceView(one), ProductFields.commerceView(other))
        let changed = try product([("v_b", [("5", "usd")]), ("v_a", [("9", "eur"), ("11", "usd")])])
        XCTAssertNotEqual(ProductFields.commerceView(one), ProductFields.commerceView(changed), "a price change still reads as one")
    }
}
