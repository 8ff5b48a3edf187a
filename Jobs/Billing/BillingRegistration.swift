import Connectors
import Queue
import Store

extension JobRegistry {
    /// The billing and money-check job kinds (docs/billing.md).
    mutating func registerBilling(database: Database?, stripe: StripeConnector?, clock: JobClock, checks: StatusChecks?) {
        register(BillingCycleJob(database: database, clock: clock))
        register(BillingInvoiceJob(database: database, stripe: stripe, clock: clock))
        register(PaymentsRetryJob(database: database, clock: clock))
        register(SubscriptionCreateJob(database: database, clock: clock))
        register(SubscriptionUpdateJob(database: database, clock: clock))
        register(MoneyReconcileJob(database: database, checks: checks))
    }
}
