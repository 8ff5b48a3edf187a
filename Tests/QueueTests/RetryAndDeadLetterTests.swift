import CityOSTesting
import Connectors
import Jobs
import Queue
import Redis
import XCTest

/// Guarantee 4: retries with backoff, then dead letters that operators can replay.
final class RetryAndDeadLetterTests: XCTestCase {
    func testFlakyJobSucceedsOnAttemptThreeWithBackoffBetweenAttempts() async throws {
        let harness = try QueueHarness()
        let id = try await harness.client.enqueue(FlakyJob.self, .init(failTimes: 2)).id
        try await harness.withPool { _ in
            try await eventually("diag.flaky never succeeded") { harness.events.succeeded(id) }
        }
        let starts = harness.events.starts(of: id)
        XCTAssertEqual(starts.count, 3, "expected exactly three attempts")
        guard starts.count == 3 else { return }
        // Base 200 ms, ±25 % jitter: ≥150 ms before attempt 2, ≥300 ms before attempt 3.
        XCTAssertGreaterThanOrEqual(starts[1].at - starts[0].at, .milliseconds(150))
        XCTAssertGreaterThanOrEqual(starts[2].at - starts[1].at, .milliseconds(300))
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.processed, 1)
        XCTAssertEqual(queue?.retried, 2)
        XCTAssertEqual(queue?.dead, 0)
        try await harness.clean()
    }

    func testARetryWaitsAtLeastAsLongAsTheFailureSaysItCannotHelp() async throws {
        var registry = JobCatalog.registry()
        registry.register(HintedJob())
        let harness = try QueueHarness(registry: registry)
        let hinted = try await harness.client.enqueue(HintedJob.self, .init(seconds: 30)).id
        let plain = try await harness.client.enqueue(HintedJob.self, .init(seconds: nil)).id
        let tomorrow = try await harness.client.enqueue(HintedJob.self, .init(seconds: 2 * 86_400)).id
        try await harness.withPool { _ in
            try await eventually("the jobs to fail once") {
                !harness.events.retries(of: hinted).isEmpty && !harness.events.retries(of: plain).isEmpty
                    && !harness.events.retries(of: tomorrow).isEmpty
            }
        }
        // A wait of two days (a proxy's "come back tomorrow") is honoured up to the longest backoff
        // of the kind, at least an hour: it must not park a payment for days.
        let capped = try XCTUnwrap(harness.events.retries(of: tomorrow).first)
        XCTAssertEqual(capped.dueAt - capped.setAt, 3_600_000, accuracy: 1_000)
        // Backoff alone (base 50 ms) would retry within a tenth of a second; the error asked for 30 s.
        let asked = try XCTUnwrap(harness.events.retries(of: hinted).first)
        XCTAssertGreaterThanOrEqual(asked.dueAt - asked.setAt, 29_900)
        let backoff = try XCTUnwrap(harness.events.retries(of: plain).first)
        XCTAssertLessThan(backoff.dueAt - backoff.setAt, 1_000)
        let due = try await harness.redis.send("ZSCORE", .string(QueueKeys(queue: "default", namespace: harness.namespace).schedule), .string(hinted))
        XCTAssertEqual(due.string.flatMap { Int64($0) }, asked.dueAt, "the stored retry is the one reported")
        // What a connector throws when a service's Retry-After was longer than the call could wait
        // carries it to this rule.
        let busy: any Error = ConnectorError.unavailable(service: .medusa, status: 503, message: "busy", retryAfter: .seconds(30))
        XCTAssertEqual((busy as? any RetryAfterHint)?.retryAfter, .seconds(30))
        try await harness.clean()
    }

    func testJobOverItsAttemptsIsDeadWithItsErrorsAndRetryBringsItBack() async throws {
        let failing = Switch()
        var registry = JobCatalog.registry()
        registry.register(SwitchJob(failing: failing))
        let harness = try QueueHarness(registry: registry)
        let id = try await harness.client.enqueue(SwitchJob.self, .init()).id
        try await harness.withPool { _ in
            try await eventually("the job never died") { harness.events.deadReason(id) != nil }
        }
        let (total, entries) = try await harness.deadLetters.list(queue: "default")
        XCTAssertEqual(total, 1)
        let dead = try XCTUnwrap(entries.first?.envelope)
        XCTAssertEqual(dead.id, id)
        XCTAssertEqual(dead.attempt, 2)
        XCTAssertEqual(dead.errors.map(\.attempt), [1, 2])
        XCTAssertEqual(dead.errors.map(\.message), ["switch is on", "switch is on"])

        failing.turnOff()
        try await harness.deadLetters.retry(queue: "default", id: id)
        try await harness.withPool { _ in
            try await eventually("the replayed job never succeeded") { harness.events.succeeded(id) }
        }
        let awaited4 = try await harness.deadLetters.list(queue: "default").total
        XCTAssertEqual(awaited4, 0)
        do {
            try await harness.deadLetters.retry(queue: "default", id: id)
            XCTFail("replaying a job that is no longer dead must fail")
        } catch let failure as DeadLetters.Failure {
            XCTAssertEqual(failure, .notFound(queue: "default", id: id))
        }
        try await harness.clean()
    }

    func testTheCLIListsAndReplaysDeadLetters() async throws {
        let harness = try QueueHarness()
        let id = try await harness.client.enqueue(FlakyJob.self, .init(failTimes: 1), options: .init(maxAttempts: 1)).id
        try await harness.withPool { _ in
            try await eventually("the job never died") { harness.events.deadReason(id) != nil }
        }
        let env = try harness.childEnvironment()
        let list = try ChildProcess(arguments: ["dead", "list", "default"], environment: env)
        let awaited5 = try await list.waitForExit()
        XCTAssertEqual(awaited5, 0, list.log)
        XCTAssertTrue(list.log.contains(id) && list.log.contains("failing on purpose"), list.log)
        XCTAssertNotNil(list.log.firstMatch(of: /died \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/), "when it died, in UTC: \(list.log)")

        let job = try ChildProcess(arguments: ["job", "default", id], environment: env)
        let awaitedJob = try await job.waitForExit()
        XCTAssertEqual(awaitedJob, 0, job.log)
        XCTAssertTrue(job.log.contains(#""state" : "dead""#) && job.log.contains("failing on purpose"), job.log)
        let noJob = try ChildProcess(arguments: ["job", "default", "no-such-id"], environment: env)
        let awaitedNoJob = try await noJob.waitForExit()
        XCTAssertEqual(awaitedNoJob, 2, noJob.log)
        XCTAssertTrue(noJob.log.contains("no job no-such-id in queue default"), noJob.log)

        let retry = try ChildProcess(arguments: ["dead", "retry", "default", id], environment: env)
        let awaited6 = try await retry.waitForExit()
        XCTAssertEqual(awaited6, 0, retry.log)
        let awaited7 = try await harness.queue("default")?.ready
        XCTAssertEqual(awaited7, 1)
        let awaited8 = try await harness.queue("default")?.dead
        XCTAssertEqual(awaited8, 0)

        let missing = try ChildProcess(arguments: ["dead", "retry", "default", "no-such-id"], environment: env)
        let awaited9 = try await missing.waitForExit()
        XCTAssertEqual(awaited9, 2)
        XCTAssertTrue(missing.log.contains("no dead letter no-such-id"), missing.log)
        try await harness.clean()
    }

    func testPoisonEnvelopesAreDeadLetteredAndTheWorkerKeepsWorking() async throws {
        let harness = try QueueHarness()
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        // Not JSON at all, written straight into the queue.
        try await harness.redis.pipeline([
            RedisCommand("HSET", .string(keys.jobs), "poison-1", "{not json"),
            RedisCommand("RPUSH", .string(keys.tenantList("_")), "poison-1"),
            RedisCommand("RPUSH", .string(keys.ring), "_"),
        ])
        // Valid envelopes that no handler can take: unknown kind, arguments of the wrong type.
        let unknown = JobEnvelope(kind: "no.such.kind", queue: "default", maxAttempts: 3)
        let badArgs = JobEnvelope(kind: "diag.sleep", queue: "default", args: .object(["ms": .string("soon")]), maxAttempts: 3)
        _ = try await harness.client.enqueueBatch([unknown, badArgs])
        let good = try await harness.client.enqueue(NoopJob.self, .init()).id

        // No patience for a kind no worker knows (a newer build's would wait: UnknownKindTests).
        let pool = harness.makePool(unknownKindPatience: .zero)
        let task = Task { try await pool.run() }
        try await eventually("the good job never ran") { harness.events.succeeded(good) }
        try await eventually("not all poison was buried") { try await harness.queue("default")?.dead == 3 }
        pool.stop()
        try await task.value
        XCTAssertTrue(try XCTUnwrap(harness.events.deadReason("poison-1")).contains("not a valid job"))
        XCTAssertTrue(try XCTUnwrap(harness.events.deadReason(unknown.id)).contains("unknown job kind 'no.such.kind'"))
        XCTAssertTrue(try XCTUnwrap(harness.events.deadReason(badArgs.id)).contains("args.ms"))
        let poison = try await harness.deadLetters.show(queue: "default", id: "poison-1")
        XCTAssertEqual(poison.envelope?.args, .string("{not json"), "the raw bytes are kept for inspection")

        // Replayed, a letter that was never a job dies again at once, even in a pool where a kind
        // it does not know would wait for a newer build.
        try await harness.deadLetters.retry(queue: "default", id: "poison-1")
        let deadAfterReplay = try await harness.queue("default")?.dead
        XCTAssertEqual(deadAfterReplay, 2)
        let patient = harness.makePool(unknownKindPatience: .seconds(3600))
        let again = Task { try await patient.run() }
        try await eventually("the replayed poison did not die again") { try await harness.queue("default")?.dead == 3 }
        patient.stop()
        try await again.value
        let replayed = try await harness.deadLetters.show(queue: "default", id: "poison-1")
        XCTAssertTrue(replayed.envelope?.errors.last?.message.contains("replayed, and still not a job") == true,
                      "\(String(describing: replayed.envelope?.errors))")
        XCTAssertEqual(replayed.envelope?.args, .string("{not json"))
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.ready, 0)
        XCTAssertEqual(queue?.inFlight, 0)
        try await harness.clean()
    }

    func testRetryAllReplaysEachDeadLetterOnceWhileAWorkerKillsThemAgainAtOnce() async throws {
        // Jobs no handler can take die again as soon as they are replayed. Replaying "all" must
        // mean the ones dead when asked, once each, and end, not chase them round.
        let harness = try QueueHarness()
        let doomed = (0..<400).map { _ in JobEnvelope(kind: "no.longer.registered", queue: "default", maxAttempts: 1) }
        _ = try await harness.client.enqueueBatch(doomed)
        let pool = harness.makePool(unknownKindPatience: .zero)
        let working = Task { try await pool.run() }
        try await eventually("the jobs of an unknown kind were not all buried") {
            try await harness.queue("default")?.dead == doomed.count
        }
        // Should retry-all chase them, stopping the worker after 30 s lets it end (with too many).
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            pool.stop()
        }
        let replayed = try await harness.deadLetters.retryAll(queue: "default")
        watchdog.cancel()
        XCTAssertEqual(replayed.retried, doomed.count, "each dead letter replayed once")
        try await eventually("the replayed jobs did not all die again") {
            try await harness.queue("default")?.dead == doomed.count
        }
        pool.stop()
        try await working.value
        try await harness.clean()
    }

    func testJobOverItsTimeoutIsCancelledAndCountsAsAFailedAttempt() async throws {
        var registry = JobCatalog.registry()
        registry.register(SlowJob())
        let harness = try QueueHarness(registry: registry)
        let id = try await harness.client.enqueue(SlowJob.self, .init()).id
        let start = ContinuousClock.now
        try await harness.withPool { _ in
            try await eventually("the slow job was not timed out") { harness.events.deadReason(id) != nil }
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "the timeout must cut the 30 s job short")
        XCTAssertEqual(harness.events.deadReason(id), "timed out after 0.3s")
        let dead = try await harness.deadLetters.show(queue: "default", id: id)
        XCTAssertEqual(dead.envelope?.attempt, 1)
        try await harness.clean()
    }

    /// A run past its timeout whose handler, deaf to cancellation, runs on keeps its slot and its
    /// place in the process's in-flight hash until the handler returns; only then is the timeout
    /// recorded and the retry written. Before, the retry was written at the deadline and the next
    /// attempt ran beside the first: two runs of one job at once.
    func testARunPastItsTimeoutIsRetriedOnlyOnceItsHandlerReturns() async throws {
        var registry = JobCatalog.registry()
        registry.register(StubbornJob())
        let harness = try QueueHarness(registry: registry)
        let id = try await harness.client.enqueue(StubbornJob.self, .init()).id
        try await harness.withPool { _ in
            try await eventually(timeout: .seconds(15), "an attempt to succeed") { harness.events.succeeded(id) }
        }
        let starts = harness.events.starts(of: id)
        XCTAssertEqual(starts.count, 2, "one timed-out run and one that succeeded")
        if starts.count == 2 {
            // The first handler returns 3 s in (its timeout is 2 s); the second must start after that.
            XCTAssertGreaterThanOrEqual(starts[1].at - starts[0].at, .milliseconds(2_900), "the two runs overlapped")
        }
        let retried = harness.events.all.compactMap { entry -> String? in
            if case .retrying(let envelope, let error, _) = entry.event, envelope.id == id { return error }
            return nil
        }
        XCTAssertEqual(retried, ["timed out after 2.0s"], "one retry: the timeout's, not the late failure's")
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.processed, 1)
        XCTAssertEqual(queue?.inFlight, 0)
        try await harness.clean()
    }

    /// A handler that never returns after its timeout is given up on after the abandon grace: its
    /// timeout is recorded (here a dead letter: one attempt) and its slot given back, so that the
    /// pool (one slot) runs the next job instead of being stuck for ever.
    func testARunThatNeverReturnsIsGivenUpOnAndItsSlotGivenBack() async throws {
        var registry = JobCatalog.registry()
        registry.register(NeverReturnsJob())
        let harness = try QueueHarness(registry: registry)
        let stuck = try await harness.client.enqueue(NeverReturnsJob.self, .init()).id
        let next = try await harness.client.enqueue(NoopJob.self, .init()).id
        let pool = harness.makePool(concurrency: 1, abandonGrace: .milliseconds(300))
        let task = Task { try await pool.run() }
        try await eventually(timeout: .seconds(8), "the stuck job given up on and the next job run in its slot") {
            harness.events.deadReason(stuck) != nil && harness.events.succeeded(next)
        }
        XCTAssertEqual(harness.events.deadReason(stuck), "timed out after 0.2s")
        pool.stop()
        try await task.value
        try await harness.clean()
    }

    /// A suspect whose handler never returns is given up on like any run, and gives back the lane
    /// with its slot: held for ever, every later suspect of the process would go back in line every
    /// half second and never run.
    func testASuspectThatNeverReturnsIsGivenUpOnAndTheNextSuspectRuns() async throws {
        var registry = JobCatalog.registry()
        registry.register(NeverReturnsJob())
        let harness = try QueueHarness(registry: registry)
        let stuck = JobEnvelope(kind: NeverReturnsJob.kind, queue: "default", maxAttempts: 1, crashes: 1)
        let next = JobEnvelope(kind: NoopJob.kind, queue: "default", maxAttempts: 3, crashes: 1)
        _ = try await harness.client.enqueueBatch([stuck])
        let pool = harness.makePool(concurrency: 4, abandonGrace: .milliseconds(300))
        let task = Task { try await pool.run() }
        try await eventually(timeout: .seconds(5), "the never-returning suspect to start") {
            !harness.events.starts(of: stuck.id).isEmpty
        }
        _ = try await harness.client.enqueueBatch([next])
        try await eventually(timeout: .seconds(8), "the stuck suspect given up on and the next suspect run") {
            harness.events.deadReason(stuck.id) != nil && harness.events.succeeded(next.id)
        }
        XCTAssertEqual(harness.events.deadReason(stuck.id), "timed out after 0.2s")
        let processes = try await harness.status().processes
        let process = try XCTUnwrap(processes.first?.id)
        let mark = try await harness.redis.send("GET", .string(GlobalKeys(namespace: harness.namespace).suspect(process))).string
        XCTAssertNil(mark, "the next suspect cleared its own mark, and the given-up one's was cleared before it")
        pool.stop()
        try await task.value
        try await harness.clean()
    }

    /// A handler deaf to its timeout that then finishes its work has made its effects: the job is
    /// recorded as done, not retried (a retry would make them twice).
    func testARunThatSucceedsAfterItsTimeoutIsDoneNotRetried() async throws {
        var registry = JobCatalog.registry()
        registry.register(LateSuccessJob())
        let harness = try QueueHarness(registry: registry)
        let id = try await harness.client.enqueue(LateSuccessJob.self, .init()).id
        try await harness.withPool { _ in
            try await eventually(timeout: .seconds(10), "the late run to be recorded") { harness.events.succeeded(id) }
        }
        XCTAssertEqual(harness.events.starts(of: id).count, 1, "run once")
        XCTAssertEqual(harness.events.retries(of: id).count, 0, "never retried")
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.processed, 1)
        XCTAssertEqual(queue?.delayed, 0)
        try await harness.clean()
    }

    /// Suspects (jobs a worker died holding) run one at a time. One past its timeout keeps the lane
    /// until its handler, deaf to cancellation, returns: it may still be what kills the process,
    /// and the next suspect must not be blamed for it. Waiting suspects hold no slot: the other
    /// jobs run meanwhile.
    func testASuspectPastItsTimeoutHoldsTheLaneUntilItsHandlerReturns() async throws {
        var registry = JobCatalog.registry()
        registry.register(DeafJob())
        let harness = try QueueHarness(registry: registry)
        let deaf = JobEnvelope(kind: DeafJob.kind, queue: "default", maxAttempts: 1, crashes: 1)
        let next = JobEnvelope(kind: NoopJob.kind, queue: "default", maxAttempts: 3, crashes: 1)
        let plain = (0..<3).map { _ in JobEnvelope(kind: NoopJob.kind, queue: "default", maxAttempts: 3) }
        _ = try await harness.client.enqueueBatch([deaf, next] + plain)
        try await harness.withPool(concurrency: 4) { _ in
            try await eventually(timeout: .seconds(10), "the next suspect and the other jobs to run") {
                harness.events.succeeded(next.id) && plain.allSatisfy { harness.events.succeeded($0.id) }
            }
        }
        XCTAssertEqual(harness.events.deadReason(deaf.id), "timed out after 0.3s")
        let deafStart = try XCTUnwrap(harness.events.starts(of: deaf.id).first).at
        let nextStart = try XCTUnwrap(harness.events.starts(of: next.id).first).at
        XCTAssertGreaterThanOrEqual(nextStart - deafStart, DeafJob.runs - .milliseconds(100),
                                    "the next suspect started while the deaf one still ran")
        let done = harness.events.all.compactMap { entry -> ContinuousClock.Instant? in
            if case .succeeded(let envelope, _) = entry.event, plain.contains(where: { $0.id == envelope.id }) { return entry.at }
            return nil
        }
        XCTAssertEqual(done.count, plain.count)
        XCTAssertTrue(done.allSatisfy { $0 - deafStart < DeafJob.runs }, "the other jobs ran while the deaf suspect held the lane")
        try await harness.clean()
    }

    func testDeadLettersAreCappedAndWhatTheCapDropsIsCounted() async throws {
        let harness = try QueueHarness()
        let poison = (0..<5).map { _ in JobEnvelope(kind: "no.such.kind", queue: "default", maxAttempts: 1) }
        _ = try await harness.client.enqueueBatch(poison)
        let pool = harness.makePool(deadLetterCap: 3, unknownKindPatience: .zero)
        let task = Task { try await pool.run() }
        try await eventually("not every poison job was buried") { try await harness.queue("default")?.failed == 5 }
        pool.stop()
        try await task.value
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.dead, 3)
        XCTAssertEqual(queue?.deadDropped, 2, "the cap drops the oldest and says so")
        let kept = try await harness.deadLetters.list(queue: "default").entries.map(\.id)
        XCTAssertEqual(kept.count, 3)
        XCTAssertTrue(Set(kept).isSubset(of: Set(poison.map(\.id))))
        // The dropped ones are remembered: looking one up says it died and was dropped, not that
        // it is gone as a success would be.
        let lookup = JobLookup(redis: harness.redis, namespace: harness.namespace)
        var droppedIDs: [String] = []
        for id in poison.map(\.id) where !kept.contains(id) {
            let found = try await lookup.find(queue: "default", id: id)
            XCTAssertNil(found)
            if try await lookup.droppedAt(queue: "default", id: id) != nil { droppedIDs.append(id) }
        }
        XCTAssertEqual(droppedIDs.count, 2, "both ids the cap dropped are remembered")
        let message = JobLookup.notFound(queue: "default", id: droppedIDs[0],
                                         droppedAt: try await lookup.droppedAt(queue: "default", id: droppedIDs[0]))
        XCTAssertTrue(message.contains("it died, and its dead letter was dropped at"), message)
        let neverHere = try await lookup.droppedAt(queue: "default", id: kept[0])
        XCTAssertNil(neverHere, "a letter kept was not dropped")
        try await harness.clean()
    }
}
