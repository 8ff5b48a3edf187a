import Foundation
import Logging
import Queue
import Store
import Synchronization

extension Platform {
    /// The relay that moves committed outbox rows into their Redis queues; its failures are logged
    /// by the relay itself and published as the `outbox.relay` check through `health`.
    func makeOutboxRelay(health: OutboxRelayHealth) -> OutboxRelay {
        let client = JobClient(redis: redis, registry: registry, namespace: namespace)
        return OutboxRelay(database: database, onEvent: health.note, sink: OutboxRelay.queueSink(client))
    }

    /// Starts the background services every working process needs — the PostgreSQL pool, the
    /// outbox relay and the `outbox.backlog` check — and returns a function that stops them.
    func startStoreServices() -> @Sendable () async -> Void {
        let database = self.database
        let databaseTask = Task { await database.run() }
        let checks = StatusChecks(redis: redis, namespace: namespace)
        let health = OutboxRelayHealth(checks: checks)
        let healthTask = Task { await health.run() }
        let relay = makeOutboxRelay(health: health)
        let relayTask = Task { await relay.run() }
        let backlogTask = Task { await OutboxBacklog.publish(database: database, checks: checks) }
        return {
            relayTask.cancel()
            await relayTask.value
            backlogTask.cancel()
            await backlogTask.value
            healthTask.cancel()
            await healthTask.value
            database.shutdown()
            await databaseTask.value
        }
    }

    /// Waits until the database has every migration this build ships, checking every 5 s, so that
    /// a worker deployed before `cityos migrate` runs no job against the old schema (each would
    /// fail until its attempts were used up). Says once what it waits for. False when `stopped`
    /// became true first.
    ///
    /// Then checks that row-level security binds the role it connects as (``RoleIsolation``).
    /// - Throws: a user error, and no job is taken, when it does not: tenants would not be isolated.
    func waitForSchema(stopped: @Sendable () -> Bool) async throws -> Bool {
        let required = SchemaVersion.required
        var told = false
        while !stopped() {
            let problem: String
            var escape: String?
            do {
                let applied = try await SchemaVersion.applied(database: database)
                if applied >= required {
                    escape = try await RoleIsolation.problem(database: database)
                }
                if let escape {
                    logger.critical("no job is taken: tenants would not be isolated", metadata: ["problem": "\(escape)"])
                } else if applied >= required {
                    if told { logger.info("the database schema is current: taking jobs", metadata: ["version": "\(applied)"]) }
                    return true
                }
                problem = "the database schema is at migration \(applied), this build needs \(required): run `cityos migrate`"
            } catch {
                problem = "the schema version cannot be read (\(PostgresServerMessage(error).message)): PostgreSQL is not "
                    + "reachable yet, or the migrations this build needs are not applied (`cityos migrate`)"
            }
            if let escape { throw userError(escape) }
            if !told {
                logger.error("no job is taken until the schema is current", metadata: ["problem": "\(problem)"])
                told = true
            }
            try? await Task.sleep(for: .seconds(5))   // a poll of another process's work, not an event to await
        }
        return false
    }
}
