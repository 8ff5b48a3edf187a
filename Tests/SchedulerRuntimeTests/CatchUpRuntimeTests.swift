import CityOSTesting
import Foundation
import Jobs
import Queue
import Scheduler
import XCTest

/// After downtime, missed ticks follow each schedule's catch-up policy, counted from the last
/// tick recorded in Redis; a schedule seen for the first time starts from now.
final class CatchUpRuntimeTests: XCTestCase {
    /// Real runners on the wall clock: one runs a tick and stops; three ticks pass; a new one
    /// (another "process", its own Redis client) starts and catches up.
    func testSchedulerStoppedAcrossThreeTicksCatchesUpByPolicy() async throws {
        let test = try TestRedis.make("restart")
        addTeardownBlock { await test.deleteNamespace() }
        // Ticks at chosen seconds: the first, then three while stopped, then none for a minute.
        let start = TestTime.nextWholeSecond()
        let first = start.addingTimeInterval(2)
        let missed = [5.0, 7, 9].map { start.addingTimeInterval($0) }
        let seconds = ([first] + missed).map { String(Int($0.timeIntervalSince1970) % 60) }
        let cron = "\(seconds.joined(separator: ",")) * * * * *"
        let schedules = try [CatchUpPolicy.latest, .all, .none].map { policy in
            try ScheduleDefinition.noop("restart-\(policy.rawValue)", cron: cron, catchUp: policy)
        }

        let before = SchedulerEvents()
        let stopped = try test.runner(schedules, events: before)
        await withDiscardingTaskGroup { group in
            group.addTask { await stopped.run() }
            do {
                try await before.wait("the first tick of all three schedules", within: 10) { events in
                    schedules.allSatisfy { events.createdTicks(of: $0.name) == [first] }
                }
            } catch {
                XCTFail("\(error)")
            }
            stopped.stop()
        }
        XCTAssertLessThan(Date(), missed[0], "the first scheduler stopped before the next tick (machine too slow?)")

        try await TestTime.sleep(until: missed[2].addingTimeInterval(1.5))   // past the grace of `none`
        let after = SchedulerEvents()
        let restarted = try test.runner(schedules, events: after)
        await withDiscardingTaskGroup { group in
            group.addTask { await restarted.run() }
            do {
                try await after.wait("the restarted scheduler's first poll", within: 10) { $0.pollCount >= 1 }
            } catch {
                XCTFail("\(error)")
            }
            restarted.stop()
        }

        XCTAssertEqual(after.all.createdTicks(of: "restart-latest"), [missed[2]], "latest: one job, for the newest missed tick")
        XCTAssertEqual(after.all.createdTicks(of: "restart-all"), missed, "all: one job per missed tick, oldest first")
        XCTAssertEqual(after.all.createdTicks(of: "restart-none"), [], "none: no job")
        let jobIDs = Set(try await test.contents(of: "default").jobIDs)
        func jobs(_ name: String, _ ticks: [Date]) -> Set<String> {
            Set(ticks.map { TickEnqueuer.jobID(schedule: name, tick: $0) })
        }
        XCTAssertEqual(jobIDs, jobs("restart-latest", [first, missed[2]])
                        .union(jobs("restart-all", [first] + missed))
                        .union(jobs("restart-none", [first])), "the queue holds exactly those jobs")
        let records = try await test.lastTicks.all()
        XCTAssertEqual(records["restart-latest"]?.tick, missed[2])
        XCTAssertEqual(records["restart-all"]?.tick, missed[2])
        XCTAssertEqual(records["restart-none"]?.tick, first, "none: the last tick enqueued is still the first")
    }

    /// The same, on a simulated clock: exact and instant.
    func testCatchUpPoliciesOnASimulatedClock() async throws {
        let test = try TestRedis.make("catch-up-clock")
        addTeardownBlock { await test.deleteNamespace() }
        let schedules = try [CatchUpPolicy.latest, .all, .none].map { policy in
            try ScheduleDefinition.noop("quarter-\(policy.rawValue)", cron: "*/15 * * * *", catchUp: policy)
        }
        let t0 = try TestTime.date("2030-06-05T10:07:00Z")
        let before = try test.runner(schedules)
        let firstPoll = await before.poll(now: t0)
        XCTAssertEqual(firstPoll.count, 0, "first seen: nothing from the past")
        let onTime = await before.poll(now: try TestTime.date("2030-06-05T10:15:00.2Z"))
        XCTAssertEqual(onTime.map(\.outcome), [.enqueued, .enqueued, .enqueued])
        // Stopped across 10:30, 10:45, 11:00; back at 11:07.
        let fired = await (try test.runner(schedules)).poll(now: try TestTime.date("2030-06-05T11:07:00Z"))
        func ticks(_ name: String) -> [String] {
            fired.filter { $0.schedule == name }.map { ZonedTime.format($0.tick, in: ScheduleDefinition.utc) }
        }
        XCTAssertEqual(ticks("quarter-latest"), ["2030-06-05T11:00:00+00:00"])
        XCTAssertEqual(ticks("quarter-all"), ["2030-06-05T10:30:00+00:00", "2030-06-05T10:45:00+00:00",
                                              "2030-06-05T11:00:00+00:00"])
        XCTAssertEqual(ticks("quarter-none"), [])
        let contents = try await test.contents(of: "default")
        XCTAssertEqual(contents.jobIDs.count, 3 + 1 + 3 + 0)
    }

    func testNewScheduleStartsFromNowWithoutHistory() async throws {
        let test = try TestRedis.make("first-seen")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = try ScheduleDefinition.noop("fresh", cron: "* * * * * *", catchUp: .all)
        let now = try TestTime.date("2030-01-01T12:00:00.5Z")
        let firstPoll = await (try test.runner([schedule])).poll(now: now)
        XCTAssertEqual(firstPoll, [], "years of per-second ticks are not caught up")
        let records = try await test.lastTicks.all()
        let record = try XCTUnwrap(records["fresh"])
        XCTAssertEqual(record.tickMillis, Int64(now.timeIntervalSince1970 * 1000))
        XCTAssertNil(record.jobID, "nothing enqueued yet")
        let later = await (try test.runner([schedule])).poll(now: now.addingTimeInterval(3))
        XCTAssertEqual(later.map(\.tick), [1.5, 2.5, 3.5].map { now.addingTimeInterval($0 - 1) },
                       "the ticks after the first poll")
    }

    func testDisabledScheduleEnqueuesNothing() async throws {
        let test = try TestRedis.make("disabled")
        addTeardownBlock { await test.deleteNamespace() }
        var schedule = try ScheduleDefinition.noop("off", cron: "* * * * * *")
        schedule.enabled = false
        let runner = try test.runner([schedule])
        let first = await runner.poll(now: try TestTime.date("2030-01-01T12:00:00Z"))
        let second = await runner.poll(now: try TestTime.date("2030-01-01T12:00:05Z"))
        XCTAssertEqual(first + second, [])
        let records = try await test.lastTicks.all()
        XCTAssertNil(records["off"], "nothing enqueued")
        let mark = try await test.redis.send("HGET", .string(test.lastTicks.disabledKey), "off").string
        XCTAssertEqual(mark, "1893499200000", "seen disabled at 12:00:00 (noted every 30 s at most)")
    }

    /// A schedule only ever seen disabled, then enabled, is a new schedule: it starts from now, its
    /// old mark notwithstanding.
    func testAScheduleOnlyEverSeenDisabledStartsFromNowOnceEnabled() async throws {
        let test = try TestRedis.make("never-enabled")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = try ScheduleDefinition.noop("later", cron: "0 * * * *", catchUp: .all)
        var off = schedule
        off.enabled = false
        await (try test.runner([off])).poll(now: try TestTime.date("2030-01-01T09:00:00Z"))
        let enabled = await (try test.runner([schedule])).poll(now: try TestTime.date("2030-01-02T12:10:00Z"))
        XCTAssertEqual(enabled, [], "a day of hourly ticks since the mark is not caught up")
        let record = try await test.lastTicks.all()["later"]
        XCTAssertEqual(record?.tick, try TestTime.date("2030-01-02T12:10:00Z"), "counted from its first poll enabled")
    }

    /// While another running scheduler runs a schedule enabled (a rolling deploy), one that has it
    /// disabled marks nothing: the ticks are the other's to run, and a mark could drop one.
    func testASchedulerDoesNotMarkASkipWhileAnotherRunsTheScheduleEnabled() async throws {
        let test = try TestRedis.make("mixed")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = try ScheduleDefinition.noop("yearly", cron: "0 0 1 1 *")
        var off = schedule
        off.enabled = false
        let enabled = try test.runner([schedule])
        let running = Task { await enabled.run() }
        let registry = RunningSchedulers(redis: test.redis, namespace: test.namespace)
        try await eventually("the enabled scheduler to publish itself") {
            try await registry.live(nowMillis: Int64(Date().timeIntervalSince1970 * 1000)).contains { $0.id == enabled.processID }
        }
        func mark() async throws -> String? {
            try await test.redis.send("HGET", .string(test.lastTicks.disabledKey), "yearly").string
        }
        await (try test.runner([off])).poll(now: Date())
        let whileEnabledElsewhere = try await mark()
        XCTAssertNil(whileEnabledElsewhere, "another scheduler runs it enabled")
        enabled.stop()
        await running.value
        await (try test.runner([off])).poll(now: Date())
        let once = try await mark()
        XCTAssertNotNil(once, "no scheduler runs it enabled now: its ticks are skipped")
    }

    /// A scheduler whose last beat was stamped ahead of now (by a clock that was ahead, before
    /// beats followed Redis's only) is not taken for a live one until that time comes: it would
    /// hide "no scheduler running" and keep the others from marking what they have disabled.
    func testABeatStampedAheadOfNowIsNotASignOfLife() async throws {
        let test = try TestRedis.make("beat-ahead")
        addTeardownBlock { await test.deleteNamespace() }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let registry = RunningSchedulers(redis: test.redis, namespace: test.namespace)
        // And one written by hand with the smallest number: read as stale, not a trap (before, the
        // subtraction overflowed and killed every reader: the scheduler, /metrics, `cityos status`).
        for (id, beat) in [("ahead", now + 3_600_000), ("recent", now - 2_000), ("just-ahead", now + 2_000),
                           ("corrupt", Int64.min)] {
            let json = #"{"id":"\#(id)","started_ms":\#(now - 10_000),"beat_ms":\#(beat),"schedules":{"s":"x"}}"#
            try await test.redis.send("HSET", .string("\(test.namespace):schedulers"), .string(id), .string(json))
        }
        let live = try await registry.live(nowMillis: now).map(\.id)
        XCTAssertEqual(Set(live), ["recent", "just-ahead"], "an hour ahead is not live; seconds either way are")
    }

    /// A scheduler that runs the schedule enabled but has not beat for a minute (its Redis failed
    /// for a while) has not stopped: one that has it disabled marks nothing, or the ticks the
    /// first could not enqueue meanwhile would be dropped. One silent for longer is gone.
    func testASchedulerSilentForAMinuteStillKeepsItsSchedulesFromBeingMarkedSkipped() async throws {
        let test = try TestRedis.make("silent")
        addTeardownBlock { await test.deleteNamespace() }
        var off = try ScheduleDefinition.noop("yearly", cron: "0 0 1 1 *")
        off.enabled = false
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        func beat(at millis: Int64) async throws {
            let json = #"{"id":"other","started_ms":\#(millis - 10_000),"beat_ms":\#(millis),"schedules":{"yearly":"x"}}"#
            try await test.redis.send("HSET", .string("\(test.namespace):schedulers"), "other", .string(json))
        }
        func mark() async throws -> String? {
            try await test.redis.send("HGET", .string(test.lastTicks.disabledKey), "yearly").string
        }
        try await beat(at: now - 60_000)
        await (try test.runner([off])).poll(now: Date())
        let whileSilent = try await mark()
        XCTAssertNil(whileSilent, "a scheduler silent for a minute still runs it")
        try await beat(at: now - Int64(RunningSchedulers.holdsMarksFor * 1000) - 60_000)
        await (try test.runner([off])).poll(now: Date())
        let gone = try await mark()
        XCTAssertNotNil(gone, "silent for longer than holdsMarksFor: gone, and the ticks are skipped")
    }

    /// Ticks that fall while a running scheduler has the schedule disabled are skipped, not
    /// missed: enabled again, even `catch_up: all` does not run them. Ticks missed while no
    /// scheduler ran at all are still caught up.
    func testAScheduleEnabledAgainDoesNotCatchUpTheTicksItWasDisabledFor() async throws {
        let test = try TestRedis.make("re-enabled")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = try ScheduleDefinition.noop("hourly-all", cron: "0 * * * *", catchUp: .all)
        var off = schedule
        off.enabled = false
        let on = try test.runner([schedule])
        await on.poll(now: try TestTime.date("2030-01-01T09:30:00Z"))
        let ten = await on.poll(now: try TestTime.date("2030-01-01T10:00:01Z"))
        XCTAssertEqual(ten.map(\.outcome), [.enqueued])

        // Disabled from 10:20 to 13:40: 11:00, 12:00 and 13:00 fall meanwhile.
        let disabled = try test.runner([off])
        await disabled.poll(now: try TestTime.date("2030-01-01T10:20:00Z"))
        await disabled.poll(now: try TestTime.date("2030-01-01T13:40:00Z"))
        let status = try await ScheduleStatus.read(schedules: [schedule], registry: JobCatalog.registry(), redis: test.redis,
                                                   namespace: test.namespace, now: try TestTime.date("2030-01-01T13:40:30Z"))
        XCTAssertNil(status.schedules.first?.missedTick, "skipped on purpose, not missed")
        XCTAssertEqual(status.schedules.first?.lastRun?.tick, "2030-01-01T10:00:00+00:00", "the last run is still 10:00's")

        let again = try test.runner([schedule])
        let enabledAgain = await again.poll(now: try TestTime.date("2030-01-01T13:45:00Z"))
        XCTAssertEqual(enabledAgain, [], "11:00, 12:00 and 13:00 fell while it was disabled")
        // Then no scheduler runs from 14:30 to 16:10: 15:00 and 16:00 are missed, and caught up.
        let fourteen = await again.poll(now: try TestTime.date("2030-01-01T14:00:01Z"))
        XCTAssertEqual(fourteen.map(\.tick), [try TestTime.date("2030-01-01T14:00:00Z")])
        let caughtUp = await again.poll(now: try TestTime.date("2030-01-01T16:10:00Z"))
        XCTAssertEqual(caughtUp.map(\.tick), [try TestTime.date("2030-01-01T15:00:00Z"), try TestTime.date("2030-01-01T16:00:00Z")])
        let contents = try await test.contents(of: "default")
        XCTAssertEqual(contents.jobIDs.count, 4, "10:00, 14:00, 15:00, 16:00")
    }

    /// A schedule removed from the files (its file deleted) is, to the schedulers running without
    /// it, disabled: added back hours later, even `catch_up: all` does not run the ticks it was away
    /// for, nor does `latest` run the last of them at once. Another schedule of the same runner is
    /// not touched.
    func testAScheduleRemovedThenAddedBackDoesNotCatchUpTheTicksItWasAwayFor() async throws {
        let test = try TestRedis.make("removed")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = try ScheduleDefinition.noop("hourly-back", cron: "0 * * * *", catchUp: .all)
        let other = try ScheduleDefinition.noop("hourly-stays", cron: "30 * * * *", catchUp: .all)
        let both = try test.runner([schedule, other])
        await both.poll(now: try TestTime.date("2030-01-01T09:45:00Z"))
        let ten = await both.poll(now: try TestTime.date("2030-01-01T10:00:01Z"))
        XCTAssertEqual(ten.map(\.outcome), [.enqueued])

        // Its file deleted from 10:20 to 13:40: 11:00, 12:00 and 13:00 fall meanwhile.
        let without = try test.runner([other])
        await without.poll(now: try TestTime.date("2030-01-01T10:20:00Z"))
        let whileAway = await without.poll(now: try TestTime.date("2030-01-01T13:40:00Z"))
        XCTAssertEqual(whileAway.map(\.tick), ["10:30", "11:30", "12:30", "13:30"].map { try? TestTime.date("2030-01-01T\($0):00Z") },
                       "the schedule still in the files runs as before")
        let mark = try await test.redis.send("HGET", .string(test.lastTicks.disabledKey), "hourly-back").string
        XCTAssertEqual(mark, String(Int64(try TestTime.date("2030-01-01T13:40:00Z").timeIntervalSince1970 * 1000)),
                       "seen missing from the files at 13:40")
        let stays = try await test.redis.send("HGET", .string(test.lastTicks.disabledKey), "hourly-stays").string
        XCTAssertNil(stays, "a schedule in the files is not marked")

        let back = try test.runner([schedule, other])
        let addedBack = await back.poll(now: try TestTime.date("2030-01-01T13:45:00Z"))
        XCTAssertEqual(addedBack, [], "11:00, 12:00 and 13:00 fell while it was removed")
        let fourteen = await back.poll(now: try TestTime.date("2030-01-01T14:00:01Z"))
        XCTAssertEqual(fourteen.map(\.tick), [try TestTime.date("2030-01-01T14:00:00Z")], "then it runs as before")
    }

    /// A host whose clock is a year fast (booted before NTP) must neither fire ticks early nor
    /// record its schedule a year ahead, which would silence the schedule for a year once the
    /// clock is right (a claim only moves forward): polls look at Redis's clock.
    func testAHostWhoseClockIsAYearFastFollowsRedissClock() async throws {
        let test = try TestRedis.make("skew")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = try ScheduleDefinition.noop("skewed", cron: "* * * * * *")
        let events = SchedulerEvents()
        let runner = try test.runner([schedule], events: events, hostClock: { Date().addingTimeInterval(365 * 86_400) })
        await withDiscardingTaskGroup { group in
            group.addTask { await runner.run() }
            do {
                try await events.wait("two ticks enqueued", within: 10) { $0.createdTicks(of: "skewed").count >= 2 }
            } catch {
                XCTFail("\(error)")
            }
            runner.stop()
        }
        for tick in events.all.createdTicks(of: "skewed") {
            XCTAssertLessThan(tick.timeIntervalSinceNow, 5, "a tick fired from the host's clock: \(tick)")
        }
        let records = try await test.lastTicks.all()
        let record = try XCTUnwrap(records["skewed"])
        XCTAssertLessThan(Double(record.tickMillis) / 1000 - Date().timeIntervalSince1970, 5, "the schedule was recorded ahead")
    }

    /// `catch_up: all` runs at most the newest `limit` missed ticks; the older ones it skips are
    /// named in a warning, never dropped silently.
    func testCatchUpAllCappedSaysWhichTicksItSkips() async throws {
        let test = try TestRedis.make("capped")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = try ScheduleDefinition.noop("capped", cron: "* * * * * *", catchUp: .all)
        let now = TestTime.nextWholeSecond().addingTimeInterval(-1)
        _ = try await test.lastTicks.advance("capped", to: now.addingTimeInterval(-10), jobID: "before")
        let log = CapturedLog()
        let runner = try test.runner([schedule], catchUpLimit: 3, log: log)
        let fired = await runner.poll(now: now)
        XCTAssertEqual(fired.map(\.tick), [-2.0, -1, 0].map { now.addingTimeInterval($0) }, "the newest three")
        let warnings = log.all.filter { $0.message.hasPrefix("catch-up capped") }
        XCTAssertEqual(warnings.count, 1, "\(log.all.map(\.message))")
        XCTAssertEqual(warnings.first?.metadata["schedule"], "capped")
        XCTAssertNotNil(warnings.first?.metadata["skipped_from"])
    }

    /// `none` and `latest` skip missed ticks, as they should, but say so: a `none` schedule whose
    /// poll came two seconds late (a failed poll, a slow Redis) used to drop its tick in silence.
    func testMissedTicksSkippedByNoneOrLatestAreNamedInAWarning() async throws {
        let test = try TestRedis.make("skipped")
        addTeardownBlock { await test.deleteNamespace() }
        let none = try ScheduleDefinition.noop("late-none", cron: "*/5 * * * * *", catchUp: .none)
        let latest = try ScheduleDefinition.noop("late-latest", cron: "*/5 * * * * *", catchUp: .latest)
        let tick = TestTime.nextWholeSecond().addingTimeInterval(-60)
        let aligned = Date(timeIntervalSince1970: (tick.timeIntervalSince1970 / 5).rounded(.down) * 5)
        for name in ["late-none", "late-latest"] {
            _ = try await test.lastTicks.advance(name, to: aligned.addingTimeInterval(-10), jobID: "before")
        }
        let log = CapturedLog()
        let runner = try test.runner([none, latest], log: log)
        let fired = await runner.poll(now: aligned.addingTimeInterval(2))
        XCTAssertEqual(fired.map(\.schedule), ["late-latest"], "none runs nothing two seconds late; latest the newest")
        let warnings = log.all.filter { $0.message.hasPrefix("missed ticks skipped by catch_up") }
        XCTAssertEqual(Set(warnings.compactMap { $0.metadata["schedule"] }), ["late-none", "late-latest"], "\(log.all.map(\.message))")
        XCTAssertTrue(warnings.allSatisfy { $0.metadata["skipped_from"] != nil })

        // Nothing moves `none`'s record past the ticks it dropped: the polls until its next
        // tick find them again, and say so once, not once a poll.
        _ = await runner.poll(now: aligned.addingTimeInterval(3))
        _ = await runner.poll(now: aligned.addingTimeInterval(4))
        let after = log.all.filter { $0.message.hasPrefix("missed ticks skipped by catch_up") }
        XCTAssertEqual(after.compactMap { $0.metadata["schedule"] }.filter { $0 == "late-none" }.count, 1,
                       "\(after.map(\.metadata))")
    }
}
