import Connectors
import Queue
import Store

/// Every job kind of the platform, registered once. The worker, the ingress, the CLI and
/// the scheduler all take their registry from here, so they agree on what exists.
public enum JobCatalog {
    /// - Parameter database: the store, for jobs that write to PostgreSQL; a process without
    ///   one (the CLI enqueueing) still knows every kind and its arguments.
    /// - Parameter connectors: the outside services, for jobs that call them (payouts); a job that
    ///   needs them in a process without them fails permanently, saying so.
    /// - Parameter clock: where the money jobs take "now" from (billing periods, dunning); the system
    ///   clock unless a test or a sandbox run controls it (docs/billing.md).
    /// - Parameter checks: where `money.reconcile` publishes its result for the status and metrics.
    /// - Parameter webhookInboxRetentionDays: how long `webhooks.prune` keeps settled inbox rows
    ///   (the `webhooks.inbox_retention_days` setting).
    public static func registry(database: Database? = nil, connectors: Connectors? = nil,
                                clock: JobClock = .system, checks: StatusChecks? = nil,
                                webhookInboxRetentionDays: Int = WebhookPruneJob.defaultRetentionDays) -> JobRegistry {
        var registry = JobRegistry()
        registry.register(NoopJob())
        registry.register(RecordJob(database: database))
        registry.register(SleepJob())
        registry.register(FlakyJob())
        registry.register(CommissionCalculateJob(database: database))
        registry.register(CommissionReverseJob(database: database))
        registry.register(PayoutsRunJob(database: database))
        registry.register(PayoutsVendorJob(database: database, stripe: connectors?.stripe))
        registry.register(SyncReconcileJob(database: database, connectors: connectors))
        registry.registerBilling(database: database, stripe: connectors?.stripe, clock: clock, checks: checks)
        let dispatch = WebhookDispatch.platform(database: database, connectors: connectors, clock: clock)
        let inbox = database.map { WebhookInbox(database: $0) }
        registry.registerWebhookJobs(dispatch: dispatch, inbox: inbox)
        registry.register(WebhookPruneJob(database: database, retentionDays: webhookInboxRetentionDays))
        return registry
    }
}
