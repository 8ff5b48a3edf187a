import CityOSTesting
import Foundation
import Jobs
import Logging
import Queue
import Redis
import Scheduler
import XCTest

/// A test's own corner of the test Redis: a unique namespace, clients, and what is in a queue.
struct TestRedis: Sendable {
    let url: String
    let namespace: String
    let redis: RedisClient

    /// The Redis of `CITYOS_REDIS_URL` (scripts/test.sh sets it), with a fresh namespace.
    /// - Throws: ``TestSetupError`` naming the variable when it is not set.
    static func make(_ label: String) throws -> TestRedis {
        guard let url = ProcessInfo.processInfo.environment["CITYOS_REDIS_URL"], !url.isEmpty else {
            throw TestSetupError("CITYOS_REDIS_URL is not set: run the tests with scripts/test.sh (make test), "
                                 + "or export CITYOS_REDIS_URL=redis://127.0.0.1:PORT/0 of a Redis you started")
        }
        let namespace = "test-sched-\(label)-\(UUID().uuidString.prefix(8).lowercased())"
        return TestRedis(url: url, namespace: namespace, redis: try RedisClient(url: url))
    }

    /// Another client (another "process") on the same Redis.
    func newClient() throws -> RedisClient { try RedisClient(url: url) }

    func jobClient(_ redis: RedisClient? = nil) -> JobClient {
        JobClient(redis: redis ?? self.redis, registry: JobCatalog.registry(), namespace: namespace)
    }

    /// A scheduler as one process would run it, on a client of its own.
    func runner(_ schedules: [ScheduleDefinition], events: SchedulerEvents? = nil,
                redis: RedisClient? = nil, hostClock: @escaping @Sendable () -> Date = { Date() },
                catchUpLimit: Int = 1000, log: CapturedLog? = nil) throws -> SchedulerRunner {
        var logger = log.map { log in Logger(label: "test.scheduler") { _ in CapturingHandler(lines: log) } }
            ?? Logger(label: "test.scheduler")
        logger.logLevel = .warning
        let client = jobClient(try redis ?? newClient())
        var observer: (@Sendable (SchedulerEvent) -> Void)?
        if let events { observer = { events.record($0) } }
        return try SchedulerRunner(schedules: schedules, client: client, namespace: namespace,
                                   catchUpLimit: catchUpLimit, logger: logger, observer: observer, hostClock: hostClock)
    }

    var lastTicks: LastTicks { LastTicks(redis: redis, namespace: namespace) }

    /// What a `cityos` process needs to work on this namespace with the schedules in `folder`/schedules.
    func cliEnvironment(schedules folder: TemporaryDirectory) throws -> [String: String] {
        ["CITYOS_REDIS_URL": url, "CITYOS_REDIS_NAMESPACE": namespace,
         "CITYOS_SCHEDULER_DIRECTORY": folder.url.appendingPathComponent("schedules").path,
         "CITYOS_DATABASE_URL": try TestEnvironment.value("CITYOS_DATABASE_URL")]
    }

    /// What one queue holds: stored jobs, ready ids (platform tenant `_`), the enqueue counter.
    struct QueueContents: Sendable {
        var jobIDs: [String]
        var readyIDs: [String]
        var enqueuedCounter: Int
    }

    func contents(of queue: String) async throws -> QueueContents {
        let keys = QueueKeys(queue: queue, namespace: namespace)
        let replies = try await redis.pipeline([
            RedisCommand("HKEYS", .string(keys.jobs)),
            RedisCommand("LRANGE", .string(keys.tenantList("_")), 0, -1),
            RedisCommand("HGET", .string(keys.stats), "enqueued"),
        ])
        return QueueContents(jobIDs: (replies[0].array ?? []).compactMap(\.string),
                             readyIDs: (replies[1].array ?? []).compactMap(\.string),
                             enqueuedCounter: replies[2].int ?? 0)
    }

    /// Deletes every key of the namespace.
    func deleteNamespace() async {
        var cursor = "0"
        repeat {
            guard let reply = try? await redis.send("SCAN", .string(cursor), "MATCH", .string("\(namespace):*"), "COUNT", 500),
                  let items = reply.array, items.count == 2 else { return }
            cursor = items[0].string ?? "0"
            let keys = (items[1].array ?? []).compactMap(\.string)
            if !keys.isEmpty { _ = try? await redis.send(RedisCommand("DEL", keys.map { .string($0) })) }
        } while cursor != "0"
    }
}

/// The test environment is missing something; the message says what to do.
struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Dates and schedules for tests.
enum TestTime {
    /// `text` (ISO 8601 with offset) as a date, or a thrown error naming it.
    static func date(_ text: String) throws -> Date {
        guard let date = ZonedTime.parse(text, zone: ScheduleDefinition.utc) else {
            throw TestSetupError("not an ISO 8601 date: \(text)")
        }
        return date
    }

    /// The next whole second strictly after now.
    static func nextWholeSecond(after date: Date = Date()) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 + 1).rounded(.down))
    }

    /// Sleeps until the wall clock reaches `date` (waiting for a tick, not for another task).
    static func sleep(until date: Date) async throws {
        let wait = date.timeIntervalSinceNow
        if wait > 0 { try await Task.sleep(for: .milliseconds(Int64(wait * 1000) + 1)) }
    }
}

extension ScheduleDefinition {
    /// A schedule of `diag.noop` jobs (queue `default`).
    static func noop(_ name: String, cron: String, catchUp: CatchUpPolicy = .latest) throws -> ScheduleDefinition {
        ScheduleDefinition(name: name, cron: try CronExpression(cron), jobKind: "diag.noop", catchUp: catchUp)
    }
}

/// Checks that the jobs of `schedule` in `contents` are exactly one per tick, for every tick
/// between the first and the last: no tick twice, none skipped, nothing else in the queue.
/// - Returns: the ticks, in order.
@discardableResult
func assertOneJobPerConsecutiveTick(_ contents: TestRedis.QueueContents, schedule: String, lastTick: Date,
                                    period: TimeInterval, file: StaticString = #filePath,
                                    line: UInt = #line) -> [Date] {
    // Job ids are derived from (schedule, tick): map every id back to its tick.
    var tickByID: [String: Date] = [:]
    for step in 0..<600 {
        let tick = lastTick.addingTimeInterval(-Double(step) * period)
        tickByID[TickEnqueuer.jobID(schedule: schedule, tick: tick)] = tick
    }
    let ticks = contents.jobIDs.compactMap { tickByID[$0] }.sorted()
    XCTAssertEqual(ticks.count, contents.jobIDs.count, "every job in the queue is a tick of \(schedule)", file: file, line: line)
    XCTAssertEqual(Set(contents.jobIDs).count, contents.jobIDs.count, "no job id twice", file: file, line: line)
    XCTAssertEqual(contents.readyIDs.sorted(), contents.jobIDs.sorted(), "each job is in line once", file: file, line: line)
    XCTAssertEqual(contents.enqueuedCounter, contents.jobIDs.count, "the enqueue counter saw no extra job", file: file, line: line)
    if let first = ticks.first {
        let expected = Int((lastTick.timeIntervalSince(first) / period).rounded()) + 1
        XCTAssertEqual(ticks.count, expected, "one job for every tick from \(first) to \(lastTick)", file: file, line: line)
        XCTAssertEqual(ticks.last, lastTick, "the last job is the last tick recorded", file: file, line: line)
    }
    return ticks
}

extension XCTestCase {
    /// A Redis namespace and a temporary folder of the test's own, both removed when it ends.
    func redisAndFolder(_ label: String) throws -> (TestRedis, TemporaryDirectory) {
        let test = try TestRedis.make(label)
        let folder = try TemporaryDirectory(label)
        addTeardownBlock {
            folder.remove()
            await test.deleteNamespace()
        }
        return (test, folder)
    }
}
