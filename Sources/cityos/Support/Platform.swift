import ArgumentParser
import Config
import Connectors
import Foundation
import Jobs
import Logging
import Queue
import Redis
import Store
import Synchronization

/// What every command starts from: the configuration, a logger, and the Redis client.
struct Platform {
    let config: CityOSConfig
    let logger: Logger
    let redis: RedisClient
    /// The application's PostgreSQL pool; it connects when a command runs it (`runDatabase`).
    let database: Database
    /// The outside services, as the jobs reach them (operators' money commands read Stripe too).
    let connectors: Connectors
    let registry: JobRegistry

    /// Loads and checks the configuration; a bad or missing setting stops here, in one line.
    static func load(_ options: GlobalOptions, label: String = "cityos") throws -> Platform {
        let config: CityOSConfig
        do {
            config = try CityOSConfig.load(file: options.configFile)
        } catch {
            throw userError(error.description)
        }
        LoggingBootstrap.once()
        let logger = Logger(label: label)
        let endpoint: RedisEndpoint
        do { endpoint = try RedisEndpoint(url: config.redisURL) } catch {
            throw userError("configuration: redis.url (CITYOS_REDIS_URL): \(error)")
        }
        let redis = RedisClient(.init(endpoint: endpoint, connections: config.redisConnections))
        let database: Database
        do {
            let limits = config.databaseSessionLimits
            func limit(_ seconds: Int) -> Duration? { seconds > 0 ? .seconds(seconds) : nil }
            database = try Database(url: config.databaseURL, maximumConnections: config.databasePoolSize,
                                    limits: .init(statement: limit(limits.statement), lock: limit(limits.lock),
                                                  idleInTransaction: limit(limits.idleInTransaction)),
                                    logger: Logger(label: "cityos.store"))
        } catch {
            throw userError("configuration: database.url (CITYOS_DATABASE_URL): \(error)")
        }
        // Payouts call Stripe. The connectors live as long as the process: kept in `processConnectors`
        // so their HTTP client is never deinitialised unshut (AsyncHTTPClient traps on that in debug).
        let connectors = Connectors(config: config, redis: redis, namespace: config.redisNamespace, logger: logger)
        Self.processConnectors.withLock { $0.append(connectors) }
        let clock: JobClock
        do { clock = try JobClock.fromEnvironment() } catch { throw userError("configuration: \(error)") }
        if !clock.isSystem { logger.warning("billing clock is not the system clock (CITYOS_BILLING_CLOCK)") }
        return Platform(config: config, logger: logger, redis: redis, database: database, connectors: connectors,
                        registry: JobCatalog.registry(database: database, connectors: connectors, clock: clock,
                                                      checks: StatusChecks(redis: redis, namespace: config.redisNamespace),
                                                      webhookInboxRetentionDays: config.webhookInboxRetentionDays))
    }

    var namespace: String { config.redisNamespace }

    private static let processConnectors = Mutex<[Connectors]>([])

    func workerConfiguration(queues: String? = nil, concurrency: Int? = nil) throws -> WorkerConfiguration {
        let parsed: [(name: String, weight: Int)]
        do { parsed = try WorkerConfiguration.parseQueues(queues ?? config.workerQueues) } catch {
            throw userError(error.description)
        }
        var configuration = WorkerConfiguration(
            queues: parsed, concurrency: concurrency ?? config.workerConcurrency,
            heartbeatTTL: .milliseconds(Int(config.heartbeatTTL * 1000)),
            shutdownGrace: .milliseconds(Int(config.shutdownGrace * 1000)),
            deadLetterCap: config.deadLetterCap, namespace: namespace)
        configuration.crashLimit = config.crashLimit
        configuration.unknownKindPatience = .seconds(config.unknownKindPatience)
        return configuration
    }
}

/// Runs `action` once when SIGTERM or SIGINT arrives (graceful shutdown). A second signal exits
/// at once (status 130), as an operator pressing Ctrl-C twice expects: jobs still running are
/// then recovered by the other workers after the heartbeat TTL, as after a crash.
final class TerminationSignals: @unchecked Sendable {
    // Dispatch sources are thread-safe; they are only created here and cancelled once.
    private let sources: [any DispatchSourceSignal]
    private let received = Atomic<Int>(0)

    init(_ action: @escaping @Sendable () -> Void) {
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            sources.append(DispatchSource.makeSignalSource(signal: number, queue: .global()))
        }
        self.sources = sources
        for source in sources {
            source.setEventHandler { [weak self] in
                guard let self else { return }
                if self.received.add(1, ordering: .relaxed).newValue == 1 {
                    action()
                } else {
                    warn("a second signal: exiting now; jobs still running return to their queues after the heartbeat TTL")
                    exit(130)
                }
            }
            source.resume()
        }
    }

    func cancel() { sources.forEach { $0.cancel() } }
}

/// `value` as indented JSON with sorted keys on standard output (the `--json` forms, `job`, `dead show`).
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Something the user should know about what was done: one line on standard error.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("cityos: warning: \(message)\n".utf8))
}

/// A mistake in what the user asked for: printed as one line on standard error, exit code 2.
func userError(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("cityos: \(message)\n".utf8))
    return ExitCode(2)
}

/// Runs an operator's action; what the queue engine refuses (`OpsRefusal`: not there, not in a
/// state that allows it, a reason too long) becomes a `userError`.
func refusalsAsUserErrors<T>(_ action: () async throws -> T) async throws -> T {
    do {
        return try await action()
    } catch let refusal as any OpsRefusal {
        throw userError(refusal.description)
    }
}
