import Foundation
import Logging
import PostgresNIO

/// The platform's PostgreSQL: a pool of connections for one URL (one role).
///
/// The pool works only while ``run()`` runs: start it in the process's task group and
/// stop it with ``shutdown()`` or by cancelling that task.
///
/// ```swift
/// let database = try Database(url: environment["CITYOS_DATABASE_URL"]!, logger: logger)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { await database.run() }
///     try await database.withTenant(tenantID) { connection in … }
///     database.shutdown()
/// }
/// ```
///
/// Work happens in transactions scoped to a tenant (see `withTenant`, `withoutTenant`,
/// `withPlatformSweep`), so row-level security always knows whose rows are in play.
public final class Database: Sendable {
    /// Where this database is, without the password.
    public let url: DatabaseURL
    /// The underlying PostgresNIO pool, for callers that need it directly.
    public let client: PostgresClient
    let logger: Logger
    /// Transactions held across calls to outside services (``withTenantAcrossOutsideCalls(_:lane:_:)``)
    /// take a permit of their lane first, so that an outside service that answers slowly or not at
    /// all cannot hold every connection while other jobs (billing, payouts) wait for one. With the
    /// pool's N connections, less the outbox relay's listener: orders' (an invoice or a delivery
    /// created once) at most (N − 1) / 2, one product's sync (N − 1) / 4, a reconciliation's batch
    /// (hundreds of products' locks, held for minutes) one; each at least one. A lane waits only for
    /// its own: a batch whose locks a product's sync waits on keeps no order waiting. From 8
    /// connections on, they leave about a quarter of the pool to other work (2 of 8).
    public let outsideOrders: Permits
    public let outsideSyncs: Permits
    public let outsideBatches: Permits

    private let shutdownSignal: AsyncStream<Void>
    private let shutdownTrigger: AsyncStream<Void>.Continuation

    /// How long the server lets one of this pool's sessions wait or work before it ends the
    /// statement (or, idle in a transaction, the session), so that a stuck query gives its
    /// connection back: a job whose task was cancelled at its timeout cannot interrupt a query
    /// under way (PostgresNIO's queries are not cancellable), and a pool of a few connections
    /// would otherwise empty one stuck job at a time. nil: the server's setting.
    public struct SessionLimits: Sendable, Equatable {
        /// `statement_timeout`: any one statement.
        public var statement: Duration?
        /// `lock_timeout`: waiting for a row or table lock (a claim behind another delivery's
        /// uncommitted one, a row another job holds `FOR UPDATE`): the job fails and is retried.
        public var lock: Duration?
        /// `idle_in_transaction_session_timeout`: a transaction left open with nothing running.
        public var idleInTransaction: Duration?

        public init(statement: Duration? = nil, lock: Duration? = nil, idleInTransaction: Duration? = nil) {
            self.statement = statement
            self.lock = lock
            self.idleInTransaction = idleInTransaction
        }

        /// The startup parameters that set them, in milliseconds.
        var startupParameters: [(String, String)] {
            [("statement_timeout", statement), ("lock_timeout", lock),
             ("idle_in_transaction_session_timeout", idleInTransaction)].compactMap { name, limit in
                limit.map { (name, String($0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000)) }
            }
        }
    }

    /// A pool for `url`, opening at most `maximumConnections` connections, each session held to
    /// `limits`.
    ///
    /// An ``OutboxRelay`` holds one connection for LISTEN while it runs, so give a pool
    /// shared with a relay at least two.
    public init(url: DatabaseURL, maximumConnections: Int = 16, limits: SessionLimits = SessionLimits(), logger: Logger) {
        var configuration = PostgresClient.Configuration(
            host: url.host,
            port: url.port,
            username: url.username,
            password: url.password,
            database: url.database,
            tls: Self.tls(url.tls)
        )
        configuration.options.maximumConnections = max(1, maximumConnections)
        self.outsideOrders = Permits((max(1, maximumConnections) - 1) / 2)
        self.outsideSyncs = Permits((max(1, maximumConnections) - 1) / 4)
        self.outsideBatches = Permits(1)
        configuration.options.additionalStartupParameters = limits.startupParameters
        self.url = url
        self.logger = logger
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        (shutdownSignal, shutdownTrigger) = AsyncStream.makeStream(of: Void.self)
    }

    /// A pool for a `postgres://` URL string; throws ``StoreError/invalidURL(_:reason:)``.
    public convenience init(url: String, maximumConnections: Int = 16, limits: SessionLimits = SessionLimits(),
                            logger: Logger) throws {
        try self.init(url: DatabaseURL(url), maximumConnections: maximumConnections, limits: limits, logger: logger)
    }

    /// Runs the pool until ``shutdown()`` is called or the calling task is cancelled.
    /// Call it once, in a task of its own.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            // Ends on shutdown() or when this task is cancelled.
            for await _ in shutdownSignal { break }
            group.cancelAll()
        }
    }

    /// Stops ``run()``: open connections close and later queries fail.
    public func shutdown() {
        shutdownTrigger.yield()
        shutdownTrigger.finish()
    }

    private static func tls(_ mode: DatabaseURL.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: return .disable
        case .prefer: return .prefer(.makeClientConfiguration())
        case .require: return .require(.makeClientConfiguration())
        }
    }
}
