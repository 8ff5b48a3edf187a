import Logging
import Queue
import Store

extension Platform {
    /// The relay that moves committed outbox rows into their Redis queues.
    func makeOutboxRelay() -> OutboxRelay {
        let client = JobClient(redis: redis, registry: registry, namespace: namespace)
        let logger = Logger(label: "cityos.outbox")
        return OutboxRelay(database: database, onEvent: { event in
            switch event {
            case .sinkFailed(let message), .databaseFailed(let message), .listenerFailed(let message):
                logger.warning("outbox relay: \(message)")
            case .listening, .relayed: break
            }
        }, sink: OutboxRelay.queueSink(client))
    }

    /// Starts the background services every working process needs — the PostgreSQL pool and
    /// the outbox relay — and returns a function that stops them.
    func startStoreServices() -> @Sendable () async -> Void {
        let database = self.database
        let databaseTask = Task { await database.run() }
        let relay = makeOutboxRelay()
        let relayTask = Task { await relay.run() }
        return {
            relayTask.cancel()
            await relayTask.value
            database.shutdown()
            await databaseTask.value
        }
    }
}
