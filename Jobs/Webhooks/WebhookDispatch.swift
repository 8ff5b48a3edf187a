import Connectors
import Queue
import Store

/// Which handler applies a webhook event, by (source, type). A type is either exact
/// (`payment_intent.succeeded`) or a family (`transfer.*`: every type starting `transfer.`);
/// an exact entry wins over a family. An event no entry matches is ignored: counted, not an error.
public struct WebhookDispatch: Sendable {
    private var exact: [String: any WebhookEventHandler] = [:]
    private var families: [(source: String, prefix: String, handler: any WebhookEventHandler)] = []

    public init() {}

    /// Registers `handler` for `types` of `source`. A later registration of the same type replaces
    /// the earlier one.
    public mutating func on(_ source: String, _ types: [String], _ handler: any WebhookEventHandler) {
        for type in types {
            if type.hasSuffix(".*") {
                families.removeAll { $0.source == source && $0.prefix == String(type.dropLast()) }
                families.append((source, String(type.dropLast()), handler))
            } else {
                exact["\(source) \(type)"] = handler
            }
        }
    }

    public func handler(source: String, type: String) -> (any WebhookEventHandler)? {
        if let handler = exact["\(source) \(type)"] { return handler }
        return families.first { $0.source == source && type.hasPrefix($0.prefix) }?.handler
    }

    /// The platform's table: each event family registers its types here, next to the others, so
    /// this one function shows what every source's events do.
    public static func platform(database: Database?, connectors: Connectors?, clock: JobClock = .system) -> WebhookDispatch {
        var dispatch = WebhookDispatch()
        // Product sync (Jobs/Sync): commerce ⇄ content, per event.
        let productSync = ProductSyncHandler(database: database, connectors: connectors)
        dispatch.on("medusa", ProductSyncHandler.medusaTypes, productSync)
        dispatch.on("payload", ProductSyncHandler.payloadTypes, productSync)
        // Orders (Jobs/Orders): commissions, delivery and invoice on placement; reversals on
        // cancellation and refund; delivery and accounting status from Fleetbase and ERPNext.
        dispatch.on("medusa", ["order.placed"], OrderPlacedHandler(database: database, connectors: connectors))
        dispatch.on("medusa", ["order.canceled"], OrderCanceledHandler(database: database, fleetbase: connectors?.fleetbase,
                                                                      erpnext: connectors?.erpnext))
        dispatch.on("stripe", ["charge.refunded"], ChargeRefundedHandler(database: database))
        dispatch.on("fleetbase", ["order.*"], DeliveryStatusHandler(database: database))
        dispatch.on("erpnext", InvoiceStatusHandler.types, InvoiceStatusHandler(database: database, erpnext: connectors?.erpnext))
        // Payouts and vendors (Jobs/Payouts, Jobs/Vendors): transfers reconcile payouts; whether a
        // connected account can receive payouts.
        dispatch.on("stripe", ["transfer.*"], TransferEventHandler(database: database))
        dispatch.on("stripe", ["account.updated"], AccountUpdatedHandler(database: database, stripe: connectors?.stripe))
        // Invoices (Jobs/Billing): Stripe's asynchronous payment outcomes, in any order.
        dispatch.on("stripe", PaymentIntentEvents.types, PaymentIntentEvents(database: database, clock: clock))
        // Tenants (Jobs/Tenants): settings and branding to the content side.
        dispatch.on("medusa", ["tenant.updated"], TenantUpdatedHandler(database: database, payload: connectors?.payload))
        return dispatch
    }
}
