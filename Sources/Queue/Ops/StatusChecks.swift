import Foundation
import Redis

/// The latest result of a platform check (e.g. `money.reconcile`), as `GET /v1/status`,
/// `cityos status` and `GET /metrics` show it: whether it held, and how many mismatches of each
/// invariant it found. A check job publishes it with ``StatusChecks/publish(_:)`` after each run.
public struct StatusCheck: Codable, Sendable, Equatable {
    public var name: String
    public var ok: Bool
    public var mismatches: Int
    /// Mismatches by invariant (every invariant checked is listed, 0 included).
    public var invariants: [String: Int]
    /// A few of the rows that do not match, `tenant/id`, for an operator to start from.
    public var samples: [String]
    /// When the check ran (ms since the epoch, real time).
    public var checkedAt: Int64
    /// The job that ran it.
    public var jobID: String
    /// For a check published on a period: how old it may grow before readers call it failing
    /// (invariant ``notPublished``), since then nothing publishes it. Nil: it is kept however old.
    public var staleAfterSeconds: Int?

    /// The invariant readers add to a check older than its ``staleAfterSeconds``.
    public static let notPublished = "not_published"

    enum CodingKeys: String, CodingKey {
        case name, ok, mismatches, invariants, samples
        case checkedAt = "checked_at"
        case jobID = "job_id"
        case staleAfterSeconds = "stale_after_seconds"
    }

    public init(name: String, invariants: [String: Int], samples: [String], checkedAt: Int64, jobID: String,
                staleAfterSeconds: Int? = nil) {
        self.name = name
        self.invariants = invariants
        self.mismatches = invariants.values.reduce(0, +)
        self.ok = mismatches == 0
        self.samples = samples
        self.checkedAt = checkedAt
        self.jobID = jobID
        self.staleAfterSeconds = staleAfterSeconds
    }

    /// The check as a reader at `nowMillis` must show it: failing, with ``notPublished`` and a first
    /// sample saying so, once older than ``staleAfterSeconds``: a value that nothing refreshes any
    /// more must not read as all well.
    public func read(at nowMillis: Int64) -> StatusCheck {
        guard let staleAfterSeconds, nowMillis - checkedAt > Int64(staleAfterSeconds) * 1000 else { return self }
        var stale = self
        stale.invariants[Self.notPublished] = 1
        stale.mismatches = stale.invariants.values.reduce(0, +)
        stale.ok = false
        stale.samples.insert("not published for \((nowMillis - checkedAt) / 1000) s (expected within \(staleAfterSeconds) s): "
                             + "no process publishes it now", at: 0)
        return stale
    }
}

/// Where checks publish their latest result: one Redis hash per namespace (`<ns>:checks`, field =
/// the check's name, value = its JSON), read with the queue status.
public struct StatusChecks: Sendable {
    public let redis: RedisClient
    public let namespace: String

    public init(redis: RedisClient, namespace: String) {
        self.redis = redis
        self.namespace = namespace
    }

    var key: String { "\(namespace):checks" }

    /// Replaces the check's latest result.
    public func publish(_ check: StatusCheck) async throws {
        _ = try await redis.send("HSET", .string(key), .string(check.name), .string(String(decoding: try JSONEncoder().encode(check), as: UTF8.self)))
    }

    /// Every check's latest result, by name; a check past its ``StatusCheck/staleAfterSeconds`` at
    /// `nowMillis` reads as failing (``StatusCheck/read(at:)``).
    public func read(nowMillis: Int64 = Clock.nowMillis()) async throws -> [StatusCheck] {
        let fields = (try await redis.send("HGETALL", .string(key)).array ?? []).compactMap(\.string)
        var checks: [StatusCheck] = []
        for index in stride(from: 1, to: fields.count, by: 2) {
            if let check = try? JSONDecoder().decode(StatusCheck.self, from: Data(fields[index].utf8)) {
                checks.append(check.read(at: nowMillis))
            }
        }
        return checks.sorted { $0.name < $1.name }
    }
}
