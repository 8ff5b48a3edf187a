import Logging
import Redis
import Synchronization

/// Lets a process run one suspect at a time, and says in Redis which one runs.
///
/// A suspect is a job that was in flight when a worker process died (`crashes` ≥ 1 in its
/// envelope). A death blames every job the process held, since any of them may have caused it;
/// run again side by side, the job that kills its process would take the same neighbours down
/// with it each time, and each would be blamed alike. So a process runs at most one suspect at a
/// time (other jobs still run beside it), and before it starts, its id is written to the
/// process's suspect key (`GlobalKeys.suspect`). When the process dies again, crash recovery
/// (`CrashRecovery`) counts the death against that one suspect only. A suspect fetched while the
/// lane is taken does not wait here holding a slot: it goes back to its queue's schedule for a
/// moment (`JobRunner`), for this process or another to take when its lane is free.
final class SuspectLane: Sendable {
    /// The run holding the lane, if any.
    private let holder = Mutex<UInt64?>(nil)
    private let next = Atomic<UInt64>(0)
    private let redis: RedisClient
    private let key: String
    private let logger: Logger

    /// How long a suspect that found the lane taken waits in the schedule before it is taken again.
    static let retakeAfterMillis: Int64 = 500

    init(redis: RedisClient, namespace: String, processID: String, logger: Logger) {
        self.redis = redis
        self.key = GlobalKeys(namespace: namespace).suspect(processID)
        self.logger = logger
    }

    /// The lane for one run, or nil when another suspect holds it.
    func tryTake() -> UInt64? {
        let token = next.add(1, ordering: .relaxed).newValue
        return holder.withLock { held in
            guard held == nil else { return nil }
            held = token
            return token
        }
    }

    /// Frees the lane if `token`'s run still holds it (a run claimed by its timeout frees it then;
    /// its handler, if deaf to cancellation, must not free it later from under the next suspect).
    func free(_ token: UInt64) {
        holder.withLock { held in if held == token { held = nil } }
    }

    /// Writes the mark before a suspect runs, trying again while Redis does not answer (unmarked,
    /// a death would not be blamed on it, and a job that kills its process would go on doing so).
    func mark(queue: String, id: String, run: UInt64) async {
        var delay = Duration.milliseconds(100)
        for attempt in 1...20 {
            do {
                try await redis.send("SET", .string(key), .string(RunningSuspect(queue: queue, id: id, run: run).stored)).unwrapped()
                return
            } catch {
                if attempt == 20 || Task.isCancelled {
                    logger.warning("could not mark the suspect job that runs; it runs unmarked", metadata: ["error": "\(error)"])
                    return
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// Clears the mark once the suspect's run is over, if it is still this run's (a run whose
    /// timeout freed the lane may end after the next suspect marked itself, the same job's next
    /// run included: the mark names the run, not only the job).
    func clear(queue: String, id: String, run: UInt64) async {
        do {
            try await redis.run(Self.clearIfMine, keys: [.string(key)],
                                arguments: [.string(RunningSuspect(queue: queue, id: id, run: run).stored)]).unwrapped()
        } catch {
            // Left behind, a later death of this process would blame this finished job: recovery
            // finds it no longer in flight, so nothing comes of it.
            logger.notice("could not clear the suspect mark", metadata: ["error": "\(error)"])
        }
    }
}

extension SuspectLane {
    /// KEYS: the suspect key. ARGV: the mark. Deletes the key only if it holds this mark.
    static let clearIfMine = RedisScript(name: "suspect_clear", source: """
    if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
    return 0
    """)
}

/// The suspect a process runs, as its suspect key holds it: `queue\nid\nrun` (a mark written by
/// an earlier build has no run).
struct RunningSuspect: Equatable {
    var queue: String
    var id: String
    /// Which run of the job (its lane token in the process): two runs of one job have two marks.
    var run: UInt64?

    var stored: String { queue + "\n" + id + (run.map { "\n\($0)" } ?? "") }

    init(queue: String, id: String, run: UInt64? = nil) {
        self.queue = queue
        self.id = id
        self.run = run
    }

    init?(stored: String) {
        let parts = stored.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2 else { return nil }
        self.init(queue: String(parts[0]), id: String(parts[1]), run: parts.count == 3 ? UInt64(parts[2]) : nil)
    }
}
