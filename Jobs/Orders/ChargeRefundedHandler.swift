import Foundation
import Queue
import Store

/// Stripe `charge.refunded` (`data.object` is the charge; `metadata.order_id` the Medusa order it
/// paid for): reverses the order's commissions through `commission.reverse` (reason `refund`), once
/// per charge and refunded amount. A full refund reverses the whole order; a partial one the lines
/// in `metadata.line_ids` (Medusa line ids, comma-separated). A partial refund without them cannot
/// be attributed to vendors: it fails for good (the inbox row `failed`, a dead letter saying what to
/// do), so that an operator reverses the refunded lines, rather than the vendors being paid their
/// earnings on money given back while the inbox says "ignored". A charge that paid for no order (a
/// subscription's invoice) is ignored.
struct ChargeRefundedHandler: WebhookEventHandler {
    let database: Database?

    func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
        let database = try JobDependency.required(database, "a database", for: "webhook \(event.type)")
        let chargeID = try event.requiredString("data", "object", "id")
        // A charge of no order (a subscription invoice's PaymentIntent carries tenant_id and
        // invoice_id, no order_id) has no commissions to reverse: nothing to do, not a dead letter.
        guard let medusaOrder = event.string("data", "object", "metadata", "order_id") else { return .ignored }
        let tenant = try EventTenant.required(event, context)
        let amount = event.int("data", "object", "amount") ?? 0
        let refunded = event.int("data", "object", "amount_refunded") ?? 0
        let full = event.bool("data", "object", "refunded") == true || (amount > 0 && refunded >= amount)
        let lines = (event.string("data", "object", "metadata", "line_ids") ?? "")
            .split(separator: ",").map { MedusaOrderMapping.lineID($0.trimmingCharacters(in: .whitespaces)) }
        let orderID = MedusaOrderMapping.orderID(medusaOrder)
        if !full && lines.isEmpty {
            let order = orderID.uuidString.lowercased()
            throw JobFailure.permanent("""
                \(event.source) \(event.type) event \(event.eventID): a partial refund (\(refunded) of \(amount) in Stripe's units) \
                of charge \(chargeID), Medusa order \(medusaOrder), names no lines (metadata.line_ids), so its vendors' \
                commissions cannot be reversed here: reverse the refunded lines with a commission.reverse job \
                ({"order_id": "\(order)", "line_ids": [the refunded lines' order_lines.id, not all of the order's], \
                "reason": "refund"}), \
                then delete this dead letter
                """)
        }
        try await CommissionReverseJob(database: database).run(
            .init(orderID: orderID, lineIDs: full ? nil : lines, reason: .refund),
            context: DerivedJob.context(id: "charge.refunded:\(tenant.uuidString.lowercased()):\(chargeID):\(refunded)",
                                        kind: CommissionReverseJob.kind, queue: CommissionReverseJob.options.queue,
                                        tenant: tenant, from: context))
        return .processed
    }
}
