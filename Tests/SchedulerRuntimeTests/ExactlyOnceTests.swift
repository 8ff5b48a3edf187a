import Foundation
import Queue
import Redis
import Scheduler
import XCTest

/// Any number of schedulers may run: each tick of each schedule becomes exactly one job, whose
/// id is derived from the schedule and the tick — also when a scheduler dies mid-tick.
final class ExactlyOnceTests: XCTestCase {
    func testThreeSchedulersOverSeveralTicksEnqueueEachTickOnce() async throws {
        let test = try TestRedis.make("three-runners")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = try ScheduleDefinition.noop("every-second", cron: "* * * * * *", catchUp: .all)
        let events = SchedulerEvents()
        let runners = try (0..<3).map { _ in try test.runner([schedule], events: events) }

        await withDiscardingTaskGroup { group in
            for runner in runners { group.addTask { await runner.run() } }
            do {
                try await events.wait("five ticks enqueued by three schedulers", within: 20) {
                    Set($0.createdTicks(of: "every-second")).count >= 5
                }
            } catch {
                XCTFail("\(error)")
            }
            for runner in runners { runner.stop() }
        }

        let contents = try await test.contents(of: "default")
        let records = try await test.lastTicks.all()
        let lastTick = try XCTUnwrap(records["every-second"]?.tick)
        let ticks = assertOneJobPerConsecutiveTick(contents, schedule: "every-second", lastTick: lastTick, period: 1)
        XCTAssertGreaterThanOrEqual(ticks.count, 5)
        XCTAssertEqual(events.created.count, contents.jobIDs.count,
                       "the three schedulers together report one creation per job")
        // Each tick's job starts a trace of its own: the one its scheduler logged.
        let keys = QueueKeys(queue: "default", namespace: test.namespace)
        var traces: Set<String> = []
        for fired in events.created {
            let stored = try await test.redis.send("HGET", .string(keys.jobs), .string(fired.jobID))
            let envelope = try JobEnvelope.decode(try XCTUnwrap(stored.bytes, "job \(fired.jobID) stored"))
            XCTAssertEqual(envelope.trace, fired.trace)
            traces.insert(try XCTUnwrap(envelope.trace))
        }
        XCTAssertEqual(traces.count, events.created.count, "one trace per tick")
    }

    func testThreeCityOSScheduleProcessesEnqueueEachTickOnce() async throws {
        let (test, folder) = try redisAndFolder("three-processes")
        try folder.write("schedules/every-second.yaml", """
            name: every-second
            cron: "* * * * * *"
            job: diag.noop
            catch_up: all
            """)
        let environment = try test.cliEnvironment(schedules: folder)
        let processes = try (0..<3).map { index in
            try CityOSProcess(["schedule"], environment: environment, directory: folder.url, label: "scheduler-\(index)")
        }
        defer { processes.forEach { $0.terminate() } }

        // Wait (bounded) until five ticks' jobs are in the queue.
        let deadline = Date().addingTimeInterval(30)
        while try await test.contents(of: "default").jobIDs.count < 5 {
            guard Date() < deadline else {
                XCTFail("three cityos schedule processes enqueued fewer than 5 ticks in 30 s; stderr of the first:\n\(processes[0].stderr)")
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        for process in processes { process.terminate() }
        for process in processes {
            let status = try await process.exitStatus(within: 10)
            XCTAssertEqual(status, 0, "cityos schedule exits 0 on SIGTERM; stderr:\n\(process.stderr)")
            XCTAssertTrue(process.stderr.contains("scheduler stopped"), "it says it stopped:\n\(process.stderr)")
        }

        let contents = try await test.contents(of: "default")
        let records = try await test.lastTicks.all()
        let lastTick = try XCTUnwrap(records["every-second"]?.tick)
        let ticks = assertOneJobPerConsecutiveTick(contents, schedule: "every-second", lastTick: lastTick, period: 1)
        XCTAssertGreaterThanOrEqual(ticks.count, 5)
        let enqueuedLines = processes.map { $0.stderr.components(separatedBy: "enqueued scheduled job").count - 1 }
        XCTAssertEqual(enqueuedLines.reduce(0, +), ticks.count,
                       "the processes logged one enqueue per tick between them (per process: \(enqueuedLines))")
    }

    /// A process claims and enqueues a tick, then dies before recording it as its last tick.
    /// The next scheduler finds the tick due again: the claim refuses it, the record catches up.
    func testSchedulerDyingAfterEnqueueBeforeRecordingLeavesOneJob() async throws {
        let test = try TestRedis.make("crash-after-enqueue")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = try ScheduleDefinition.noop("every-ten", cron: "*/10 * * * * *", catchUp: .all)
        let start = try TestTime.date("2030-01-01T00:00:05Z")
        let tick = try TestTime.date("2030-01-01T00:00:10Z")

        await (try test.runner([schedule])).poll(now: start)   // first seen: counts from here
        // What the dead process did: step 1 (claim + enqueue) only.
        let receipt = try await test.jobClient().enqueue(
            kind: "diag.noop", args: .object([:]),
            options: .init(jobID: TickEnqueuer.jobID(schedule: "every-ten", tick: tick)),
            sequence: EnqueueSequence(name: TickEnqueuer.sequenceName(schedule: "every-ten"),
                                      number: Int64(tick.timeIntervalSince1970 * 1000)))
        XCTAssertTrue(receipt.created)
        let lagging = try await test.lastTicks.all()
        XCTAssertEqual(lagging["every-ten"]?.jobID, nil, "the record lags behind")

        let fired = await (try test.runner([schedule])).poll(now: tick.addingTimeInterval(0.5))
        XCTAssertEqual(fired.map(\.outcome), [.alreadyEnqueued], "the tick is due again, and refused")
        let record = try await test.lastTicks.all()["every-ten"]
        XCTAssertEqual(record?.tick, tick, "the record caught up")
        XCTAssertEqual(record?.jobID, TickEnqueuer.jobID(schedule: "every-ten", tick: tick))
        let contents = try await test.contents(of: "default")
        XCTAssertEqual(contents.jobIDs.count, 1)
        assertOneJobPerConsecutiveTick(contents, schedule: "every-ten", lastTick: tick, period: 10)
    }

    /// A process that dies before step 1 leaves nothing behind: the next poll enqueues the tick.
    func testSchedulerDyingBeforeEnqueueLosesNoTick() async throws {
        let test = try TestRedis.make("crash-before-enqueue")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = try ScheduleDefinition.noop("every-ten", cron: "*/10 * * * * *", catchUp: .latest)
        let start = try TestTime.date("2030-01-01T00:00:05Z")
        let tick = try TestTime.date("2030-01-01T00:00:10Z")
        await (try test.runner([schedule])).poll(now: start)
        // The first process computed `tick` as due and died before enqueueing: no trace in Redis.
        let fired = await (try test.runner([schedule])).poll(now: tick.addingTimeInterval(0.8))
        XCTAssertEqual(fired.map(\.outcome), [.enqueued])
        XCTAssertEqual(fired.map(\.tick), [tick])
    }

    /// A process that polls more than a period late (under `latest`) must not enqueue a tick
    /// older than one already claimed: it is coalesced, and the record names the claimed tick.
    func testLateProcessCannotEnqueueATickOlderThanTheClaimedOne() async throws {
        let test = try TestRedis.make("late-process")
        addTeardownBlock { await test.deleteNamespace() }
        let schedule = try ScheduleDefinition.noop("every-ten", cron: "*/10 * * * * *")
        let older = try TestTime.date("2030-01-01T00:00:10Z")
        let newer = try TestTime.date("2030-01-01T00:00:20Z")
        await (try test.runner([schedule])).poll(now: try TestTime.date("2030-01-01T00:00:05Z"))
        // A fast process claims the newer tick and dies before recording it.
        _ = try await test.jobClient().enqueue(
            kind: "diag.noop", args: .object([:]),
            options: .init(jobID: TickEnqueuer.jobID(schedule: "every-ten", tick: newer)),
            sequence: EnqueueSequence(name: TickEnqueuer.sequenceName(schedule: "every-ten"),
                                      number: Int64(newer.timeIntervalSince1970 * 1000)))
        // A slow process still working on the older tick.
        let enqueuer = TickEnqueuer(client: test.jobClient(), lastTicks: test.lastTicks)
        let fired = try await enqueuer.fire(schedule, args: .object([:]), tick: older)
        XCTAssertEqual(fired.outcome, .superseded(by: newer))
        let record = try await test.lastTicks.all()["every-ten"]
        XCTAssertEqual(record?.tick, newer)
        XCTAssertEqual(record?.jobID, TickEnqueuer.jobID(schedule: "every-ten", tick: newer))
        let contents = try await test.contents(of: "default")
        XCTAssertEqual(contents.jobIDs, [TickEnqueuer.jobID(schedule: "every-ten", tick: newer)])
    }

    /// A schedule moved to another queue while an older process still sends it to the first:
    /// both find the same tick due, and it is stored once, in the queue of whoever claimed it.
    func testAScheduleMovedToAnotherQueueIsNotEnqueuedTwiceForOneTick() async throws {
        let test = try TestRedis.make("moved-queue")
        addTeardownBlock { await test.deleteNamespace() }
        let tick = try TestTime.date("2030-01-01T00:00:10Z")
        let old = try ScheduleDefinition.noop("every-ten", cron: "*/10 * * * * *")
        var moved = old
        moved.queue = "billing"
        let first = try await TickEnqueuer(client: test.jobClient(), lastTicks: test.lastTicks)
            .fire(old, args: .object([:]), tick: tick)
        XCTAssertEqual(first.outcome, .enqueued)
        let second = try await TickEnqueuer(client: test.jobClient(try test.newClient()), lastTicks: test.lastTicks)
            .fire(moved, args: .object([:]), tick: tick)
        XCTAssertEqual(second.outcome, .alreadyEnqueued, "the tick was claimed in the other queue")
        let inDefault = try await test.contents(of: "default")
        let inBilling = try await test.contents(of: "billing")
        XCTAssertEqual(inDefault.jobIDs, [TickEnqueuer.jobID(schedule: "every-ten", tick: tick)])
        XCTAssertEqual(inBilling.jobIDs, [], "no second job for the same tick")
        XCTAssertEqual(inBilling.enqueuedCounter, 0)
    }

    /// A claim an older build wrote in its queue's own hash is still read: the tick is not
    /// enqueued again after the upgrade.
    func testAClaimKeptPerQueueByAnOlderBuildIsStillHonoured() async throws {
        let test = try TestRedis.make("old-claim")
        addTeardownBlock { await test.deleteNamespace() }
        let tick = try TestTime.date("2030-01-01T00:00:10Z")
        let schedule = try ScheduleDefinition.noop("every-ten", cron: "*/10 * * * * *")
        try await test.redis.send("HSET", .string(QueueKeys(queue: "default", namespace: test.namespace).sequences),
                                  .string(TickEnqueuer.sequenceName(schedule: "every-ten")),
                                  .string(String(Int64(tick.timeIntervalSince1970 * 1000))))
        let fired = try await TickEnqueuer(client: test.jobClient(), lastTicks: test.lastTicks)
            .fire(schedule, args: .object([:]), tick: tick)
        XCTAssertEqual(fired.outcome, .alreadyEnqueued)
        let next = try await TickEnqueuer(client: test.jobClient(), lastTicks: test.lastTicks)
            .fire(schedule, args: .object([:]), tick: tick.addingTimeInterval(10))
        XCTAssertEqual(next.outcome, .enqueued, "the next tick is claimed in both hashes")
        let perQueue = try await test.redis.send("HGET", .string(QueueKeys(queue: "default", namespace: test.namespace).sequences),
                                                 .string(TickEnqueuer.sequenceName(schedule: "every-ten")))
        XCTAssertEqual(perQueue.string, String(Int64(tick.addingTimeInterval(10).timeIntervalSince1970 * 1000)),
                       "an older build on the same queue would refuse it too")
    }

    func testJobIDIsDerivedFromScheduleAndTick() throws {
        let tick = try TestTime.date("2030-01-01T00:00:10Z")
        XCTAssertEqual(TickEnqueuer.jobID(schedule: "a", tick: tick), TickEnqueuer.jobID(schedule: "a", tick: tick))
        XCTAssertNotEqual(TickEnqueuer.jobID(schedule: "a", tick: tick), TickEnqueuer.jobID(schedule: "b", tick: tick))
        XCTAssertNotEqual(TickEnqueuer.jobID(schedule: "a", tick: tick),
                          TickEnqueuer.jobID(schedule: "a", tick: tick.addingTimeInterval(1)))
    }
}
