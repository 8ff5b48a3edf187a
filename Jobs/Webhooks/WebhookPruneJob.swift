import Foundation
import Queue
import Store

/// `webhooks.prune` (daily, Schedules/webhook-inbox-prune.yaml): keeps the webhook inbox bounded by
/// deleting settled rows (`processed`, `ignored`) not updated for the retention period
/// (`webhooks.inbox_retention_days`, 30 by default), tenant by tenant in batches of 1,000 rows
/// (``WebhookInboxPruning``). `failed` rows are kept for operators, whatever their age.
///
/// An event whose row was pruned is handled again if it is ever delivered again, so handlers stay
/// idempotent by their business keys (docs/webhooks.md, "Retention").
public struct WebhookPruneJob: JobHandler {
    public struct Arguments: Codable, Sendable {
        /// The retention of this run, in days; the `webhooks.inbox_retention_days` setting when absent.
        public var olderThanDays: Int?
        /// Only this tenant's rows (operators, tests); the envelope's tenant is used first. Every
        /// tenant's and the tenant-less rows when absent.
        public var tenantID: UUID?
        /// Rows per DELETE (1...10,000); 1,000 when absent.
        public var batchSize: Int?

        enum CodingKeys: String, CodingKey {
            case olderThanDays = "older_than_days", tenantID = "tenant_id", batchSize = "batch_size"
        }

        public init(olderThanDays: Int? = nil, tenantID: UUID? = nil, batchSize: Int? = nil) {
            self.olderThanDays = olderThanDays
            self.tenantID = tenantID
            self.batchSize = batchSize
        }
    }

    public static let kind = "webhooks.prune"
    /// On `default`, not `webhooks`: a long first run must not hold a slot the events need.
    public static let options = JobOptions(queue: "default", retry: .exponentialJitter(maxAttempts: 5), timeout: .seconds(1800))
    /// The retention when the process is given none (the setting's default).
    public static let defaultRetentionDays = 30
    /// The retentions a run accepts, in days (the setting's bounds).
    public static let retentionRange = 1...3650

    let database: Database?
    let retentionDays: Int

    /// - Parameter retentionDays: `webhooks.inbox_retention_days`, what a run without
    ///   `older_than_days` keeps.
    public init(database: Database?, retentionDays: Int = Self.defaultRetentionDays) {
        self.database = database
        self.retentionDays = retentionDays
    }

    public func run(_ arguments: Arguments, context: JobContext) async throws {
        let database = try JobDependency.required(database, "a database", for: Self.kind)
        let days = try Self.checked(arguments.olderThanDays ?? retentionDays, "older_than_days", in: Self.retentionRange)
        let batchSize = try Self.checked(arguments.batchSize ?? WebhookInboxPruning.defaultBatchSize, "batch_size",
                                         in: 1...10_000)
        let tenant = context.tenant.flatMap(UUID.init(uuidString:)) ?? arguments.tenantID
        let summary = try await WebhookInboxPruning(database: database, batchSize: batchSize)
            .run(olderThanDays: days, tenant: tenant, logger: context.logger) { context.reportProgress($0) }
        context.logger.info("webhook inbox pruning done", metadata: [
            "job_id": "\(context.jobID)", "deleted": "\(summary.total)", "tenants": "\(summary.tenants.count)",
            "platform_rows": "\(summary.platformRows)", "batches": "\(summary.batches)", "older_than_days": "\(days)",
            "cutoff": "\(summary.cutoff)", "only_tenant": "\(tenant?.uuidString.lowercased() ?? "-")"])
    }

    /// `value` if it is in `range`; otherwise the run fails for good (a retry cannot fix an argument).
    static func checked(_ value: Int, _ name: String, in range: ClosedRange<Int>) throws(JobFailure) -> Int {
        guard range.contains(value) else {
            throw .permanent("\(name) must be \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
        return value
    }
}
