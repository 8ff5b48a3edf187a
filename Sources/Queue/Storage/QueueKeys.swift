import Redis

/// Every Redis key of the queue engine, in one place. All keys of one queue share the hash
/// tag `{q:NAME}`; keys built inside scripts from `prefix` keep the same tag. Some scripts also
/// touch namespace-wide keys (the enqueue scripts `GlobalKeys.queues` and the scheduler's
/// `GlobalKeys.sequences`; fetch and crash recovery a process's heartbeat key), so the engine runs
/// on one Redis server (or a primary with replicas), not on Redis Cluster.
public struct QueueKeys: Sendable {
    public let queue: String
    /// `cityos:{q:NAME}:` — the prefix of every key of this queue.
    public let prefix: String

    public init(queue: String, namespace: String = "cityos") {
        self.queue = queue
        self.prefix = "\(namespace):{q:\(queue)}:"
    }

    /// Hash: job id → envelope JSON, for every job that is ready, in flight or scheduled.
    public var jobs: String { prefix + "jobs" }
    /// List of the tenants that have ready jobs, rotated on every fetch (round robin).
    public var ring: String { prefix + "ring" }
    /// List of one tenant's ready job ids, oldest first.
    public func tenantList(_ tenant: String) -> String { prefix + "t:" + tenant }
    /// Hash: job id → `TENANT:LEASE`, the jobs one worker process holds and the fetch that took
    /// each (`Lease`).
    public func inflight(_ process: String) -> String { prefix + "inflight:" + process }
    /// Sorted set: job id scored by due time (ms): retries and delayed jobs.
    public var schedule: String { prefix + "schedule" }
    /// Sorted set: dead job id scored by time of death (ms).
    public var dead: String { prefix + "dead" }
    /// Hash: dead job id → envelope with its error history.
    public var deadJobs: String { prefix + "deadjobs" }
    /// Sorted set: the ids of dead letters dropped by the cap, scored by when (ms); the newest
    /// ``droppedKept`` only. Where an operator looking for a job learns it died and was dropped,
    /// rather than that it is gone (as a success is). Named in Lua as `dead .. ':dropped'`.
    public var deadDropped: String { dead + ":dropped" }
    /// How many dropped ids ``deadDropped`` keeps.
    public static let droppedKept = 10_000
    /// Hash of counters: enqueued, processed, failed, retried, dead, dead_dropped, recovered.
    public var stats: String { prefix + "stats" }
    /// Hash: epoch minute → jobs processed in it (expires after ten idle minutes).
    public var throughput: String { prefix + "throughput" }
    /// List of wake-up tokens, pushed when jobs become ready so idle fetchers need not poll.
    public var wake: String { prefix + "wake" }
    /// Hash (`at`: ms, `reason`), present while the queue is paused: fetches take nothing from it.
    public var paused: String { prefix + "paused" }
    /// Idempotency keys: key → the first job's id, with a time to live.
    public var uniquePrefix: String { prefix + "uniq:" }
}

/// Which fetch took a job: each of a worker process's fetches has a lease of its own, kept with
/// the job in the process's in-flight hash (`QueueScripts.leaseHelpers`), and a run's outcome is
/// written only while the job is still held under its lease. A job put back in line while the
/// process ran it (taken for dead) and fetched again by the same process has a new one: an outcome
/// of its earlier run still on its way to Redis then changes nothing.
public struct Lease: Sendable, Hashable {
    public let value: UInt64
    public init(_ value: UInt64) { self.value = value }

    var argument: RedisArgument { .string(String(value)) }

    /// The tenant in an in-flight hash's value (`TENANT:LEASE`, or a bare `TENANT` an earlier build
    /// wrote); tenants have no ':' (`KeyName`).
    static func tenant(of held: String) -> String {
        guard let colon = held.utf8.lastIndex(of: UInt8(ascii: ":")) else { return held }
        let digits = held.utf8[held.utf8.index(after: colon)...]
        guard !digits.isEmpty, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return held }
        return String(held[..<colon])
    }
}

/// Keys shared by all queues.
public struct GlobalKeys: Sendable {
    public let namespace: String
    public init(namespace: String = "cityos") { self.namespace = namespace }

    /// Set of every queue name ever used.
    public var queues: String { "\(namespace):queues" }
    /// Sorted set: worker process id scored by its last heartbeat (ms).
    public var processes: String { "\(namespace):processes" }
    /// Hash with a time to live: one worker process's description; gone means dead.
    public func process(_ id: String) -> String { "\(namespace):process:\(id)" }
    /// String, no time to live: the suspect job a worker process runs now (`SuspectLane`), as
    /// `QUEUE\nID`; read by crash recovery when the process dies.
    public func suspect(_ process: String) -> String { "\(namespace):suspect:\(process)" }
}

extension RedisArgument {
    static func int64(_ value: Int64) -> RedisArgument { RedisArgument(Int(value)) }
}

/// Names that become part of Redis keys (queues, tenants): 1-64 ASCII letters, digits, '_', '-'
/// or '.', so that no name can reach into another's keys or break a hash tag; not only dots,
/// which a URL path (`/v1/queues/../pause`) reads as "the folder above", so that such a queue
/// could never be reached over HTTP.
public enum KeyName {
    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && !name.utf8.allSatisfy { $0 == UInt8(ascii: ".") } && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                return true
            default:
                return false
            }
        }
    }

    /// What `isValid` asks for, for error messages.
    public static let rule = "1-64 letters, digits, '_', '-' or '.' (not dots alone)"
}
