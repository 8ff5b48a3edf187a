import Foundation

/// How a worker process works: which queues with which weights, how many jobs at once,
/// and its timings.
public struct WorkerConfiguration: Sendable {
    /// Queues and weights: a queue of weight 3 is tried first three times as often as one of weight 1.
    public var queues: [(name: String, weight: Int)]
    /// Jobs running at once in this process.
    public var concurrency: Int
    /// Most jobs taken in one fetch round trip.
    public var fetchBatch: Int
    /// A process whose heartbeat is older than this is dead; its jobs are recovered.
    public var heartbeatTTL: Duration
    /// On SIGTERM, how long running jobs may take to finish before they are returned.
    public var shutdownGrace: Duration
    /// Dead letters kept per queue; older ones are dropped (and counted).
    public var deadLetterCap: Int
    /// How often due retries and delayed jobs are moved to ready.
    public var promoteInterval: Duration
    /// This process's id: host, pid and a random suffix.
    public var processID: String
    public var namespace: String
    /// After this many deaths of the worker process holding a job (each found by crash recovery;
    /// after the first, only deaths while it ran alone count: `CrashRecovery`), the job becomes a
    /// dead letter instead of going back in line: a job that crashes or exhausts its process would
    /// otherwise kill every worker in turn, for ever.
    public var crashLimit: Int = 3
    /// A run past its timeout whose handler, deaf to the cancellation, has not returned this long
    /// (or its own timeout, if longer) after the deadline is given up on: its slot is given back and
    /// the job retried (it may then run twice). Until then it holds its slot and its job. 15 minutes,
    /// PostgreSQL's `statement_timeout` by default: a query that ignored the cancellation has ended by then.
    public var abandonGrace: Duration = .seconds(900)
    /// A job of a kind this build has no handler for (a newer build's, during a rolling deploy)
    /// goes back to the schedule for ``unknownKindRetake`` at a time, unchanged and with no attempt
    /// counted, so that a worker of the build that knows it takes it; once it has waited this long
    /// since it was due, it becomes a dead letter (`unknown job kind`).
    public var unknownKindPatience: Duration = .seconds(3600)
    public var unknownKindRetake: Duration = .seconds(30)

    public init(queues: [(name: String, weight: Int)] = [("default", 1)], concurrency: Int = 32,
                fetchBatch: Int = 100, heartbeatTTL: Duration = .seconds(5), shutdownGrace: Duration = .seconds(25),
                deadLetterCap: Int = 10_000, promoteInterval: Duration = .milliseconds(200),
                processID: String = WorkerConfiguration.makeProcessID(), namespace: String = "cityos") {
        self.queues = queues
        self.concurrency = max(1, concurrency)
        self.fetchBatch = max(1, fetchBatch)
        self.heartbeatTTL = heartbeatTTL
        self.shutdownGrace = shutdownGrace
        self.deadLetterCap = max(1, deadLetterCap)
        self.promoteInterval = promoteInterval
        self.processID = processID
        self.namespace = namespace
    }

    /// Parses `webhooks:3,default:1` (a queue without a weight has weight 1).
    public static func parseQueues(_ text: String) throws(WorkerConfigurationError) -> [(name: String, weight: Int)] {
        var result: [(String, Int)] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            let name = parts[0].trimmingCharacters(in: .whitespaces)
            // The rule every queue name meets (the ops API's and the CLI's too): a worker must not
            // take a queue whose dead letters and pause operators could not reach.
            guard KeyName.isValid(name) else {
                throw .badQueues(text, "queue name '\(name)' must be \(KeyName.rule)")
            }
            var weight = 1
            if parts.count > 1 {
                guard parts.count == 2, let w = Int(parts[1]), (1...100).contains(w) else {
                    throw .badQueues(text, "weight of '\(name)' must be an integer 1-100")
                }
                weight = w
            }
            result.append((name, weight))
        }
        guard !result.isEmpty else { throw .badQueues(text, "no queue named") }
        return result
    }

    public static func makeProcessID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        return "\(host):\(getpid()):\(suffix)"
    }
}

public enum WorkerConfigurationError: Error, CustomStringConvertible {
    case badQueues(String, String)
    public var description: String {
        switch self {
        case .badQueues(let text, let why): return "--queues '\(text)': \(why)"
        }
    }
}
