import Foundation
import Queue
import Redis

/// What operators see of the schedules: each one's expression, zone, job, next runs and last
/// run with its job id. `cityos schedules list` prints it; `GET /v1/schedules` returns it as JSON.
///
///     let schedules = try ScheduleFiles.load(directory: config.schedulesDirectory)
///     let status = try await ScheduleStatus.read(schedules: schedules, registry: registry,
///                                                redis: redis, namespace: config.redisNamespace)
public struct ScheduleStatus: Codable, Sendable, Equatable {
    public struct Schedule: Codable, Sendable, Equatable {
        public var name: String
        /// The cron expression as written.
        public var cron: String
        /// The IANA zone it is read in.
        public var timezone: String
        /// The job kind it enqueues.
        public var job: String
        /// The queue its jobs go to (the file's, else the job kind's).
        public var queue: String
        /// `latest`, `all` or `none`.
        public var catchUp: CatchUpPolicy
        public var enabled: Bool
        /// The next runs after now, ISO 8601 with the zone's offset; empty when disabled.
        public var nextRuns: [String]
        /// The last tick enqueued; nil if none yet.
        public var lastRun: LastRun?
        /// The tick after the last one recorded, when it is more than ``ScheduleStatus/missedAfterSeconds``
        /// past and still not enqueued (ISO 8601 with the zone's offset): no scheduler ran it (none
        /// running, or every poll failing). Nil while all is well, and under `catch_up: none` (which
        /// drops late ticks on purpose; "no scheduler is running" still shows).
        public var missedTick: String?
        /// When the running schedulers do not run the file as it is now (they read it at their
        /// start): which one, and what it runs instead. Nil when they all run it as it is, or none runs.
        public var notRunning: String?
        /// The file it comes from.
        public var file: String

        enum CodingKeys: String, CodingKey {
            case name, cron, timezone, job, queue, enabled, file
            case catchUp = "catch_up"
            case nextRuns = "next_runs"
            case lastRun = "last_run"
            case missedTick = "missed_tick"
            case notRunning = "not_running"
        }

        /// One line for `cityos status` and `cityos schedules list` when a tick was missed.
        public var missedSummary: String? {
            missedTick.map { "its tick of \($0) was not enqueued: is a scheduler running (`cityos schedule`, or `cityos run`)?" }
        }
    }

    public struct LastRun: Codable, Sendable, Equatable {
        /// The tick, ISO 8601 with the zone's offset.
        public var tick: String
        public var tickMillis: Int64
        public var jobID: String
        /// What became of that job, read from its queue when the status is read.
        public var jobState: JobState
        /// Its failed attempts so far (`retrying`, `dead`).
        public var failedAttempts: Int?
        /// The error of its last failed attempt (`retrying`, `dead`).
        public var lastError: String?

        enum CodingKeys: String, CodingKey {
            case tick
            case tickMillis = "tick_ms"
            case jobID = "job_id"
            case jobState = "job_state"
            case failedAttempts = "failed_attempts"
            case lastError = "last_error"
        }

        /// One line for `cityos schedules list`.
        public var summary: String {
            switch jobState {
            case .pending, .done: return jobState.rawValue
            case .dropped: return "dead, and its dead letter dropped by queues.dead_letter_cap"
            case .retrying, .dead:
                let error = lastError.map { $0.count > 80 ? $0.prefix(79) + "…" : Substring($0) } ?? "?"
                return "\(jobState.rawValue) after \(failedAttempts ?? 0) failed: \(error)"
            }
        }
    }

    /// What became of a schedule's last job.
    public enum JobState: String, Codable, Sendable {
        /// Stored and no attempt has failed: waiting for a worker, or running.
        case pending
        /// Stored after failed attempts: it runs again when its backoff is over.
        case retrying
        /// In its queue's dead letters (`cityos dead show QUEUE ID`).
        case dead
        /// It died, and its dead letter was dropped by `queues.dead_letter_cap` (the queue keeps the
        /// ids it dropped, the newest 10,000).
        case dropped
        /// Neither stored nor a dead letter, nor dropped: it succeeded, or an operator deleted its
        /// dead letter.
        case done
    }

    /// How late a tick may be before the status calls it missed: schedulers poll every second, so a
    /// minute covers a slow enqueue or a Redis hiccup.
    public static let missedAfterSeconds: TimeInterval = 60

    public var schedules: [Schedule]
    /// The scheduler processes running now (``RunningSchedulers``): 0 means no schedule is enqueued.
    public var runningSchedulers: [String]
    /// Schedules a running scheduler runs whose file is gone, each as "name (process)".
    public var runWithoutFile: [String]
    /// When it was read, ms since the epoch.
    public var generatedAt: Int64

    enum CodingKeys: String, CodingKey {
        case schedules
        case runningSchedulers = "running_schedulers"
        case runWithoutFile = "run_without_file"
        case generatedAt = "generated_at"
    }

    /// What operators must be told, one line each: no scheduler running, a file not run as it is,
    /// a schedule run without its file, a missed tick, a last job retrying, dead or dropped.
    public var alerts: [String] {
        var lines: [String] = []
        if runningSchedulers.isEmpty, schedules.contains(where: \.enabled) {
            lines.append("no scheduler is running: no schedule is enqueued (start `cityos schedule`, or `cityos run`)")
        }
        lines += runWithoutFile.map { "schedule \($0) is run though its file is gone: restart that scheduler" }
        for schedule in schedules {
            if let missed = schedule.missedSummary { lines.append("schedule \(schedule.name): \(missed)") }
            if let notRunning = schedule.notRunning { lines.append("schedule \(schedule.name): \(notRunning)") }
            if let last = schedule.lastRun, [.retrying, .dead, .dropped].contains(last.jobState) {
                lines.append("schedule \(schedule.name): last job \(last.jobID) \(last.summary)")
            }
        }
        return lines
    }

    /// Reads the last runs from Redis (one round trip) and computes the next `nextCount` runs.
    /// - Parameter registry: gives the queue of schedules whose file names none.
    public static func read(schedules: [ScheduleDefinition], registry: JobRegistry, redis: RedisClient,
                            namespace: String, now given: Date? = nil, nextCount: Int = 3) async throws(RedisError) -> ScheduleStatus {
        // Redis's clock, as the schedulers' ticks and beats are: a reader whose clock is off must
        // not see a live scheduler as gone, or a tick on time as missed.
        var now = Date()
        if let given { now = given } else { now = try await redis.serverTime() ?? Date() }
        let records = try await LastTicks(redis: redis, namespace: namespace).all()
        let running = try await RunningSchedulers(redis: redis, namespace: namespace).live(nowMillis: LastTicks.millis(now))
        let queues = schedules.map { registry.queue(for: $0.jobKind, override: $0.queue) }
        // Where each last job is: stored in its queue (the one it went to, which an edit of the file
        // may have changed since), in its dead letters, or neither (one round trip).
        var lookups: [RedisCommand] = []
        for (schedule, queue) in zip(schedules, queues) {
            guard let record = records[schedule.name], let id = record.jobID else { continue }
            let keys = QueueKeys(queue: record.queue ?? queue, namespace: namespace)
            lookups.append(RedisCommand("HGET", .string(keys.jobs), .string(id)))
            lookups.append(RedisCommand("HGET", .string(keys.deadJobs), .string(id)))
            lookups.append(RedisCommand("ZSCORE", .string(keys.deadDropped), .string(id)))
        }
        var found = lookups.isEmpty ? [] : try await redis.pipeline(lookups)[...]
        let rows = zip(schedules, queues).map { schedule, queue in
            let lastRun = records[schedule.name].flatMap { record in
                record.jobID.map { id in
                    let stored = found.popFirst()?.bytes, dead = found.popFirst()?.bytes
                    let dropped = found.popFirst()?.string != nil
                    var run = LastRun(tick: ZonedTime.format(record.tick, in: schedule.timeZone), tickMillis: record.tickMillis,
                                      jobID: id, jobState: .done)
                    run.describeJob(stored: stored, dead: dead, dropped: dropped)
                    return run
                }
            }
            let next = schedule.enabled
                ? schedule.cron.nextDates(after: now, in: schedule.timeZone, count: nextCount)
                    .map { ZonedTime.format($0, in: schedule.timeZone) }
                : []
            // The tick due after the last one recorded (a new schedule's record is where it started,
            // and a schedule seen disabled counts from then); not under `catch_up: none`, which drops
            // a late tick on purpose, without a record.
            let missed = records[schedule.name].flatMap { record in
                schedule.enabled && schedule.catchUp != .none ? schedule.nextRun(after: record.countsFrom) : nil
            }.flatMap { $0 <= now.addingTimeInterval(-missedAfterSeconds) ? ZonedTime.format($0, in: schedule.timeZone) : nil }
            return Schedule(name: schedule.name, cron: schedule.cronText, timezone: zoneName(schedule.timeZone),
                            job: schedule.jobKind, queue: queue,
                            catchUp: schedule.catchUp, enabled: schedule.enabled, nextRuns: next,
                            lastRun: lastRun, missedTick: missed, notRunning: notRunning(schedule, by: running),
                            file: schedule.file)
        }
        let named = Set(schedules.map(\.name))
        let unfiled = running.flatMap { process in
            process.schedules.keys.filter { !named.contains($0) }.sorted().map { "\($0) (scheduler \(process.id))" }
        }
        return ScheduleStatus(schedules: rows, runningSchedulers: running.map(\.id), runWithoutFile: unfiled,
                              generatedAt: LastTicks.millis(now))
    }

    /// How the running schedulers differ from `schedule`'s file, if they do.
    static func notRunning(_ schedule: ScheduleDefinition, by running: [RunningSchedulers.Entry]) -> String? {
        let restart = "it read the file before it changed: restart it to apply the file"
        for process in running {
            switch (schedule.enabled, process.schedules[schedule.name]) {
            case (true, nil):
                return "scheduler \(process.id) does not run it (\(restart))"
            case (true, let loaded?) where loaded != schedule.fingerprint:
                return "scheduler \(process.id) runs it as \(loaded) (\(restart))"
            case (false, _?):
                return "disabled in its file, but scheduler \(process.id) still runs it (\(restart))"
            default:
                continue
            }
        }
        return nil
    }

    /// The zone's IANA name; UTC as `UTC` (Foundation on Linux calls it `GMT`).
    static func zoneName(_ zone: TimeZone) -> String {
        zone.identifier == "GMT" && zone.secondsFromGMT() == 0 ? "UTC" : zone.identifier
    }
}

extension ScheduleStatus.LastRun {
    /// Sets the job's state from what its queue holds under its id: `stored` (the jobs hash) and
    /// `dead` (the dead letters), each an envelope or nil, and whether the id is among the dead
    /// letters the cap `dropped`.
    mutating func describeJob(stored: [UInt8]?, dead: [UInt8]?, dropped: Bool = false) {
        if let dead {
            jobState = .dead
            note(try? JobEnvelope.decode(dead))
        } else if let stored {
            let envelope = try? JobEnvelope.decode(stored)
            jobState = (envelope?.attempt ?? 0) > 0 ? .retrying : .pending
            if jobState == .retrying { note(envelope) }
        } else {
            jobState = dropped ? .dropped : .done
        }
    }

    private mutating func note(_ envelope: JobEnvelope?) {
        failedAttempts = envelope?.attempt
        lastError = envelope?.errors.last?.message
    }
}

extension RedisClient {
    /// Redis's clock (`TIME`), the one the schedulers and the status share; nil if the answer does not read.
    func serverTime() async throws(RedisError) -> Date? {
        let parts = try await send("TIME").array ?? []
        guard parts.count == 2, let seconds = parts[0].string.flatMap(Double.init), let micros = parts[1].string.flatMap(Double.init)
        else { return nil }
        return Date(timeIntervalSince1970: seconds + micros / 1_000_000)
    }
}
