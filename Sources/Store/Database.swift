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

    private let shutdownSignal: AsyncStream<Void>
    private let shutdownTrigger: AsyncStream<Void>.Continuation

    /// A pool for `url`, opening at most `maximumConnections` connections.
    ///
    /// An ``OutboxRelay`` holds one connection for LISTEN while it runs, so give a pool
    /// shared with a relay at least two.
    public init(url: DatabaseURL, maximumConnections: Int = 16, logger: Logger) {
        var configuration = PostgresClient.Configuration(
            host: url.host,
            port: url.port,
            username: url.username,
            password: url.password,
            database: url.database,
            tls: Self.tls(url.tls)
        )
        configuration.options.maximumConnections = max(1, maximumConnections)
        self.url = url
        self.logger = logger
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        (shutdownSignal, shutdownTrigger) = AsyncStream.makeStream(of: Void.self)
    }

    /// A pool for a `postgres://` URL string; throws ``StoreError/invalidURL(_:reason:)``.
    public convenience init(url: String, maximumConnections: Int = 16, logger: Logger) throws {
        try self.init(url: DatabaseURL(url), maximumConnections: maximumConnections, logger: logger)
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
