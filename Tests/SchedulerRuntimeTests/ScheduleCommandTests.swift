import CityOSTesting
import Foundation
import Jobs
import Queue
import Redis
@testable import Scheduler
import Synchronization
import XCTest

/// `cityos schedule`, `cityos schedules list|next` and `ScheduleStatus`, as operators use them.
final class ScheduleCommandTests: XCTestCase {
    func testSchedulesNextPrintsFireTimesWithOffset() async throws {
        let folder = try TemporaryDirectory("next")
        addTeardownBlock { folder.remove() }
        let result = try await CityOSProcess.run(
            ["schedules", "next", "30 2 * * *", "--tz", "Europe/Berlin", "--after", "2026-03-27T12:00:00Z", "--count", "3"],
            directory: folder.url, label: "next")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, """
            2026-03-28T02:30:00+01:00
            2026-03-29T03:00:00+02:00
            2026-03-30T02:30:00+02:00

            """, "spring forward: 02:30 does not exist on the 29th, so it runs at 03:00 CEST")
    }

    func testSchedulesNextRejectsABadExpressionOrZoneWithExitCode2() async throws {
        let folder = try TemporaryDirectory("next-bad")
        addTeardownBlock { folder.remove() }
        let badCron = try await CityOSProcess.run(["schedules", "next", "0 25 * * *"], directory: folder.url, label: "cron")
        XCTAssertEqual(badCron.status, 2)
        XCTAssertEqual(badCron.stdout, "")
        XCTAssertTrue(badCron.stderr.contains("field 2 (hour) value 25 is out of range 0-23"), badCron.stderr)
        let badZone = try await CityOSProcess.run(["schedules", "next", "0 2 * * *", "--tz", "Mars/Olympus"],
                                                  directory: folder.url, label: "zone")
        XCTAssertEqual(badZone.status, 2)
        XCTAssertTrue(badZone.stderr.contains("unknown time zone 'Mars/Olympus'"), badZone.stderr)
    }

    func testScheduleNamingAnUnknownJobKindStopsStartUp() async throws {
        let test = try TestRedis.make("unknown-kind")
        let folder = try TemporaryDirectory("unknown-kind")
        addTeardownBlock { folder.remove() }
        try folder.write("schedules/typo.yaml", """
            name: typo
            cron: "0 * * * *"
            job: payouts.runn
            """)
        // In process: the runner refuses it.
        let schedules = try ScheduleFiles.load(directory: folder.url.appendingPathComponent("schedules").path)
        XCTAssertThrowsError(try test.runner(schedules)) { error in
            XCTAssertEqual(error as? ScheduleError, .unregisteredJobKind(file: schedules[0].file, kind: "payouts.runn"))
        }
        // As a process: exit 2 and one line naming the file and the kind.
        for command in [["schedule"], ["run"]] {
            let result = try await CityOSProcess.run(command, environment: try test.cliEnvironment(schedules: folder),
                                                     directory: folder.url, label: command[0])
            XCTAssertEqual(result.status, 2, "cityos \(command[0]): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("typo.yaml: job kind 'payouts.runn' is not registered"),
                          "cityos \(command[0]): \(result.stderr)")
        }
    }

    func testArgumentsTheJobKindRejectsStopStartUp() throws {
        let test = try TestRedis.make("bad-args")
        let schedule = ScheduleDefinition(name: "sleepy", cron: try CronExpression("* * * * *"), jobKind: "diag.sleep",
                                          argumentsJSON: #"{"ms":"long"}"#, file: "Schedules/sleepy.yaml")
        XCTAssertThrowsError(try test.runner([schedule])) { error in
            XCTAssertTrue("\(error)".hasPrefix("Schedules/sleepy.yaml: 'args' are not valid for job kind 'diag.sleep'"), "\(error)")
        }
    }

    func testStatusShowsNextThreeRunsAndTheLastRunWithItsJobID() async throws {
        let test = try TestRedis.make("status")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = ScheduleDefinition(name: "nightly", cron: try CronExpression("30 2 * * *"),
                                          timeZone: try XCTUnwrap(TimeZone(identifier: "Europe/Berlin")),
                                          jobKind: "diag.noop", file: "Schedules/nightly.yaml")
        let runner = try test.runner([schedule])
        await runner.poll(now: try TestTime.date("2026-03-27T12:00:00Z"))
        let fired = await runner.poll(now: try TestTime.date("2026-03-28T01:30:00Z"))
        XCTAssertEqual(fired.map(\.outcome), [.enqueued])

        let status = try await ScheduleStatus.read(schedules: [schedule], registry: JobCatalog.registry(),
                                                   redis: test.redis, namespace: test.namespace,
                                                   now: try TestTime.date("2026-03-28T02:00:00Z"))
        let row = try XCTUnwrap(status.schedules.first)
        XCTAssertEqual(row.name, "nightly")
        XCTAssertEqual(row.cron, "30 2 * * *")
        XCTAssertEqual(row.timezone, "Europe/Berlin")
        XCTAssertEqual(row.queue, "default")
        XCTAssertEqual(row.nextRuns, ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"])
        XCTAssertEqual(row.lastRun?.tick, "2026-03-28T02:30:00+01:00")
        XCTAssertEqual(row.lastRun?.jobID, fired.first?.jobID)
        let json = String(decoding: try JSONEncoder().encode(status), as: UTF8.self)
        XCTAssertTrue(json.contains(#""next_runs":["#) && json.contains(#""job_id":""#), json)
    }

    /// A tick no scheduler enqueued (none running) is called out once it is a minute late, and no
    /// longer once a scheduler has run it.
    func testATickNoSchedulerEnqueuedIsCalledMissed() async throws {
        let test = try TestRedis.make("missed")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = ScheduleDefinition(name: "hourly", cron: try CronExpression("0 * * * *"), jobKind: "diag.noop",
                                          file: "Schedules/hourly.yaml")
        let runner = try test.runner([schedule])
        await runner.poll(now: try TestTime.date("2026-03-28T09:30:00Z"))   // a new schedule: ticks count from here
        func missed(at time: String) async throws -> String? {
            try await ScheduleStatus.read(schedules: [schedule], registry: JobCatalog.registry(), redis: test.redis,
                                          namespace: test.namespace, now: try TestTime.date(time)).schedules.first?.missedTick
        }
        let onTime = try await missed(at: "2026-03-28T10:00:30Z")
        XCTAssertNil(onTime, "half a minute late is not missed yet")
        let late = try await missed(at: "2026-03-28T10:05:00Z")
        XCTAssertEqual(late, "2026-03-28T10:00:00+00:00")
        var disabled = schedule
        disabled.enabled = false
        let quiet = try await ScheduleStatus.read(schedules: [disabled], registry: JobCatalog.registry(), redis: test.redis,
                                                  namespace: test.namespace, now: try TestTime.date("2026-03-28T10:05:00Z"))
        XCTAssertNil(quiet.schedules.first?.missedTick, "a disabled schedule misses nothing")

        let fired = await runner.poll(now: try TestTime.date("2026-03-28T10:05:00Z"))   // catch_up: latest runs it
        XCTAssertEqual(fired.map(\.outcome), [.enqueued])
        let caughtUp = try await missed(at: "2026-03-28T10:05:01Z")
        XCTAssertNil(caughtUp)
    }

    /// A running scheduler publishes what it loaded: the status tells a file edited, disabled, added
    /// or removed since from what runs (files are read at a scheduler's start), and no scheduler at all.
    func testTheStatusTellsTheFilesFromWhatTheRunningSchedulerRuns() async throws {
        let test = try TestRedis.make("running")
        addTeardownBlock { await test.deleteNamespace() }
        let hourly = ScheduleDefinition(name: "hourly", cron: try CronExpression("0 * * * *"), jobKind: "diag.noop",
                                        file: "Schedules/hourly.yaml")
        let runner = try test.runner([hourly])
        func status(_ files: [ScheduleDefinition]) async throws -> ScheduleStatus {
            try await ScheduleStatus.read(schedules: files, registry: JobCatalog.registry(), redis: test.redis,
                                          namespace: test.namespace)
        }
        let idle = try await status([hourly])
        XCTAssertEqual(idle.runningSchedulers, [])
        XCTAssertTrue(idle.alerts.contains { $0.hasPrefix("no scheduler is running") }, "\(idle.alerts)")

        let task = Task { await runner.run() }
        try await eventually(timeout: .seconds(10), "the scheduler published itself") {
            try await status([hourly]).runningSchedulers == [runner.processID]
        }
        let asLoaded = try await status([hourly])
        XCTAssertEqual(asLoaded.alerts, [], "the file as it runs")

        var edited = hourly
        edited.cron = try CronExpression("30 * * * *")
        var disabled = hourly
        disabled.enabled = false
        let added = ScheduleDefinition(name: "nightly", cron: try CronExpression("0 2 * * *"), jobKind: "diag.noop",
                                       file: "Schedules/nightly.yaml")
        let changed = try await status([edited, added])
        XCTAssertTrue(changed.schedules[0].notRunning?.contains("runs it as 0 * * * *") ?? false, "\(changed.schedules[0])")
        XCTAssertTrue(changed.schedules[1].notRunning?.contains("does not run it") ?? false, "\(changed.schedules[1])")
        let off = try await status([disabled])
        XCTAssertTrue(off.schedules[0].notRunning?.hasPrefix("disabled in its file, but scheduler \(runner.processID)") ?? false)
        let removed = try await status([])
        XCTAssertEqual(removed.runWithoutFile, ["hourly (scheduler \(runner.processID))"])

        runner.stop()
        await task.value
        let stopped = try await status([hourly])
        XCTAssertEqual(stopped.runningSchedulers, [], "a scheduler that stops removes itself")
    }

    func testTheLastRunSaysWhatBecameOfItsJobPendingRetryingThenDone() async throws {
        let (test, folder) = try redisAndFolder("last-job")
        // Fails its first attempt on purpose, then succeeds (diag.flaky).
        try folder.write("schedules/flaky.yaml", """
            name: flaky
            cron: "0 * * * *"
            job: diag.flaky
            args: {fail_times: 1}
            """)
        let schedule = try XCTUnwrap(try ScheduleFiles.load(directory: folder.url.appendingPathComponent("schedules").path).first)
        let runner = try test.runner([schedule])
        await runner.poll(now: try TestTime.date("2026-03-28T00:30:00Z"))
        let fired = await runner.poll(now: try TestTime.date("2026-03-28T01:00:01Z"))
        XCTAssertEqual(fired.map(\.outcome), [.enqueued])
        func lastRun() async throws -> ScheduleStatus.LastRun? {
            try await ScheduleStatus.read(schedules: [schedule], registry: JobCatalog.registry(), redis: test.redis,
                                          namespace: test.namespace).schedules.first?.lastRun
        }
        let pending = try await lastRun()
        XCTAssertEqual(pending?.jobState, .pending)
        XCTAssertEqual(pending?.summary, "pending")

        // A worker's first attempt fails; the worker stops right there, so the job waits to retry.
        let events = EventLog()
        func worker(_ observer: @escaping JobObserver) -> WorkerPool {
            WorkerPool(redis: test.redis, registry: JobCatalog.registry(),
                       configuration: WorkerConfiguration(concurrency: 1, heartbeatTTL: .seconds(2),
                                                          promoteInterval: .milliseconds(50), namespace: test.namespace),
                       logger: TestEnvironment.logger, observer: observer)
        }
        let pool = Mutex<WorkerPool?>(nil)
        let first = worker { event in
            events.append(event)
            if case .retrying = event { pool.withLock { $0?.stop() } }
        }
        pool.withLock { $0 = first }
        try await first.run()
        let retrying = try await lastRun()
        XCTAssertEqual(retrying?.jobState, .retrying)
        XCTAssertEqual(retrying?.failedAttempts, 1)
        XCTAssertEqual(retrying?.lastError, "diag.flaky failing on purpose (attempt 1)")
        XCTAssertEqual(retrying?.summary, "retrying after 1 failed: diag.flaky failing on purpose (attempt 1)")
        // `cityos status` calls it out below the queues.
        let status = try await CityOSProcess.run(["status"], environment: try test.cliEnvironment(schedules: folder),
                                                 directory: folder.url, label: "status")
        XCTAssertEqual(status.status, 0, status.stderr)
        let jobID = try XCTUnwrap(fired.first?.jobID)
        XCTAssertTrue(status.stdout.contains(
            "! schedule flaky: last job \(jobID) retrying after 1 failed: diag.flaky failing on purpose (attempt 1)"),
            status.stdout)

        // Another worker runs it again: it succeeds and leaves the queue.
        let again = worker { events.append($0) }
        let running = Task { try await again.run() }
        try await eventually(timeout: .seconds(20), "the retry to succeed") { events.succeeded(jobID) }
        again.stop()
        try await running.value
        let done = try await lastRun()
        XCTAssertEqual(done?.jobState, .done)
        XCTAssertEqual(done?.jobID, jobID)
        let json = String(decoding: try JSONEncoder().encode(try XCTUnwrap(done)), as: UTF8.self)
        XCTAssertTrue(json.contains(#""job_state":"done""#), json)
    }

    /// The file's queue edited after a run: the last job is looked up where it went, not where the
    /// file now sends them (before, a job still waiting read "done").
    func testTheLastRunIsLookedUpInTheQueueItsJobWentTo() async throws {
        let (test, folder) = try redisAndFolder("moved-queue")
        let file = """
            name: flaky
            cron: "0 * * * *"
            job: diag.flaky
            args: {fail_times: 1}
            """
        try folder.write("schedules/flaky.yaml", file)
        let directory = folder.url.appendingPathComponent("schedules").path
        let schedule = try XCTUnwrap(try ScheduleFiles.load(directory: directory).first)
        let runner = try test.runner([schedule])
        await runner.poll(now: try TestTime.date("2026-03-28T00:30:00Z"))
        let fired = await runner.poll(now: try TestTime.date("2026-03-28T01:00:01Z"))
        XCTAssertEqual(fired.map(\.outcome), [.enqueued])
        try folder.write("schedules/flaky.yaml", file + "\nqueue: elsewhere\n")
        let moved = try XCTUnwrap(try ScheduleFiles.load(directory: directory).first)
        XCTAssertEqual(moved.queue, "elsewhere")
        let status = try await ScheduleStatus.read(schedules: [moved], registry: JobCatalog.registry(), redis: test.redis,
                                                   namespace: test.namespace)
        XCTAssertEqual(status.schedules.first?.queue, "elsewhere", "the file's queue, for the next runs")
        XCTAssertEqual(status.schedules.first?.lastRun?.jobState, .pending, "the last job still waits where it went")
    }

    func testADeadLastJobShowsItsAttemptsAndReason() throws {
        var envelope = JobEnvelope(kind: "payouts.run", queue: "payouts", maxAttempts: 2)
        envelope.attempt = 2
        envelope.errors = [JobErrorRecord(attempt: 1, at: 1, message: "first"),
                           JobErrorRecord(attempt: 2, at: 2, message: String(repeating: "x", count: 100))]
        var run = ScheduleStatus.LastRun(tick: "t", tickMillis: 0, jobID: envelope.id, jobState: .done)
        run.describeJob(stored: nil, dead: try envelope.encoded())
        XCTAssertEqual(run.jobState, .dead)
        XCTAssertEqual(run.failedAttempts, 2)
        XCTAssertEqual(run.summary, "dead after 2 failed: " + String(repeating: "x", count: 79) + "…")
        run.describeJob(stored: nil, dead: nil)
        XCTAssertEqual(run.jobState, .done)
        run.describeJob(stored: nil, dead: nil, dropped: true)
        XCTAssertEqual(run.jobState, .dropped)
        XCTAssertEqual(run.summary, "dead, and its dead letter dropped by queues.dead_letter_cap")
    }

    /// A last job whose dead letter the cap dropped reads `dropped`, and is an alert, not `done`.
    func testALastJobWhoseDeadLetterWasDroppedIsNotDone() async throws {
        let test = try TestRedis.make("dropped")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = ScheduleDefinition(name: "nightly", cron: try CronExpression("0 3 * * *"), jobKind: "diag.noop",
                                          file: "Schedules/nightly.yaml")
        let runner = try test.runner([schedule])
        await runner.poll(now: try TestTime.date("2026-03-28T02:00:00Z"))
        let fired = await runner.poll(now: try TestTime.date("2026-03-28T03:00:01Z"))
        let jobID = try XCTUnwrap(fired.first?.jobID)
        // What the cap leaves of a job that died: no envelope anywhere, its id among the dropped.
        // (RetryAndDeadLetterTests drives the cap itself; this is what it leaves.)
        let keys = QueueKeys(queue: "default", namespace: test.namespace)
        _ = try await test.redis.pipeline([
            RedisCommand("HDEL", .string(keys.jobs), .string(jobID)),
            RedisCommand("ZADD", .string(keys.deadDropped), .string(String(Clock.nowMillis())), .string(jobID)),
        ])
        let status = try await ScheduleStatus.read(schedules: [schedule], registry: JobCatalog.registry(), redis: test.redis,
                                                   namespace: test.namespace, now: try TestTime.date("2026-03-28T03:10:00Z"))
        XCTAssertEqual(status.schedules.first?.lastRun?.jobState, .dropped)
        XCTAssertTrue(status.alerts.contains("schedule nightly: last job \(jobID) dead, and its dead letter dropped by "
                                             + "queues.dead_letter_cap"), "\(status.alerts)")
        XCTAssertEqual(status.gaugeReadings.first { $0.name == "cityos_schedule_last_job_failing" }?.value, 1)
    }

    func testSchedulesListPrintsEachScheduleFromTheCLI() async throws {
        let (test, folder) = try redisAndFolder("list")
        try folder.write("schedules/hourly.yaml", """
            name: hourly
            cron: "0 * * * *"
            timezone: Asia/Tokyo
            job: diag.noop
            """)
        let result = try await CityOSProcess.run(["schedules", "list", "--json"],
                                                 environment: try test.cliEnvironment(schedules: folder),
                                                 directory: folder.url, label: "list")
        XCTAssertEqual(result.status, 0, result.stderr)
        let status = try JSONDecoder().decode(ScheduleStatus.self, from: Data(result.stdout.utf8))
        XCTAssertEqual(status.schedules.map(\.name), ["hourly"])
        XCTAssertEqual(status.schedules.first?.nextRuns.count, 3)
        XCTAssertTrue(status.schedules.first?.nextRuns.allSatisfy { $0.hasSuffix(":00:00+09:00") } ?? false,
                      "\(status.schedules.first?.nextRuns ?? [])")
        XCTAssertNil(status.schedules.first?.lastRun)
    }
}
