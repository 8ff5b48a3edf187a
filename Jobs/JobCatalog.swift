import Queue

/// Every job kind of the platform, registered once. The worker, the ingress, the CLI and
/// the scheduler all take their registry from here, so they agree on what exists.
public enum JobCatalog {
    public static func registry() -> JobRegistry {
        var registry = JobRegistry()
        registry.register(NoopJob())
        registry.register(SleepJob())
        registry.register(FlakyJob())
        registry.registerScheduledPlaceholders()   // Jobs/Scheduled: until the real handlers land
        return registry
    }
}
