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
        /// The file it comes from.
        public var file: String

        enum CodingKeys: String, CodingKey {
            case name, cron, timezone, job, queue, enabled, file
            case catchUp = "catch_up"
            case nextRuns = "next_runs"
            case lastRun = "last_run"
        }
    }

    public struct LastRun: Codable, Sendable, Equatable {
        /// The tick, ISO 8601 with the zone's offset.
        public var tick: String
        public var tickMillis: Int64
        public var jobID: String

        enum CodingKeys: String, CodingKey {
            case tick
            case tickMillis = "tick_ms"
            case jobID = "job_id"
        }
    }

    public var schedules: [Schedule]
    /// When it was read, ms since the epoch.
    public var generatedAt: Int64

    enum CodingKeys: String, CodingKey {
        case schedules
        case generatedAt = "generated_at"
    }

    /// Reads the last runs from Redis (one round trip) and computes the next `nextCount` runs.
    /// - Parameter registry: gives the queue of schedules whose file names none.
    public static func read(schedules: [ScheduleDefinition], registry: JobRegistry, redis: RedisClient,
                            namespace: String, now: Date = Date(), nextCount: Int = 3) async throws(RedisError) -> ScheduleStatus {
        let records = try await LastTicks(redis: redis, namespace: namespace).all()
        let rows = schedules.map { schedule in
            let lastRun = records[schedule.name].flatMap { record in
                record.jobID.map { LastRun(tick: ZonedTime.format(record.tick, in: schedule.timeZone),
                                           tickMillis: record.tickMillis, jobID: $0) }
            }
            let next = schedule.enabled
                ? schedule.cron.nextDates(after: now, in: schedule.timeZone, count: nextCount)
                    .map { ZonedTime.format($0, in: schedule.timeZone) }
                : []
            return Schedule(name: schedule.name, cron: schedule.cronText, timezone: zoneName(schedule.timeZone),
                            job: schedule.jobKind,
                            queue: schedule.queue ?? registry.options(for: schedule.jobKind)?.queue ?? "default",
                            catchUp: schedule.catchUp, enabled: schedule.enabled, nextRuns: next,
                            lastRun: lastRun, file: schedule.file)
        }
        return ScheduleStatus(schedules: rows, generatedAt: LastTicks.millis(now))
    }

    /// The zone's IANA name; UTC as `UTC` (Foundation on Linux calls it `GMT`).
    static func zoneName(_ zone: TimeZone) -> String {
        zone.identifier == "GMT" && zone.secondsFromGMT() == 0 ? "UTC" : zone.identifier
    }
}
