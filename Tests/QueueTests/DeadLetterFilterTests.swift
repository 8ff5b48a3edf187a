import CityOSTesting
import Foundation
import Jobs
@testable import Queue
import Redis
import XCTest

/// Dead letters taken by kind and by their last error (`DeadLetters.Filter`): listed, replayed and
/// deleted, leaving the others as they were.
final class DeadLetterFilterTests: XCTestCase {
    /// Dead letters of jobs that failed, each with `reason` as its last error, stored as a worker
    /// buries them (newest last). Failures, not cancellations: a bulk replay filtered by a reason's
    /// words leaves an operator's cancellations dead (CancelTests).
    private func deadLetters(_ harness: QueueHarness) async throws -> (stripe: [String], timeouts: [String], other: String) {
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        var died = Clock.nowMillis()
        func bury(_ kind: String, _ args: JSONValue, _ reason: String) async throws -> String {
            var envelope = harness.client.makeEnvelope(kind: kind, args: args, options: .init())
            envelope.attempt = 1
            envelope.errors = [JobErrorRecord(attempt: 1, at: died, message: reason)]
            died += 1
            _ = try await harness.redis.pipeline([
                RedisCommand("SADD", .string(GlobalKeys(namespace: harness.namespace).queues), "default"),
                RedisCommand("ZADD", .string(keys.dead), .int64(died), .string(envelope.id)),
                RedisCommand("HSET", .string(keys.deadJobs), .string(envelope.id), .raw(try envelope.encoded())),
            ])
            return envelope.id
        }
        var stripe: [String] = []
        for _ in 0..<3 { stripe.append(try await bury(NoopJob.kind, .object([:]), "Stripe answered 503")) }
        var timeouts: [String] = []
        for _ in 0..<2 { timeouts.append(try await bury(SleepJob.kind, .object(["ms": .number(1)]), "timed out")) }
        let other = try await bury(NoopJob.kind, .object([:]), "duplicate")
        return (stripe, timeouts, other)
    }

    func testDeadLettersAreListedReplayedAndDeletedByKindAndByTheirLastError() async throws {
        let harness = try QueueHarness()
        let dead = harness.deadLetters
        let (stripe, timeouts, other) = try await deadLetters(harness)

        let noops = try await dead.list(queue: "default", filter: .init(kind: NoopJob.kind))
        XCTAssertEqual(noops.total, 4)
        XCTAssertEqual(Set(noops.entries.map(\.id)), Set(stripe + [other]))
        let outage = try await dead.list(queue: "default", filter: .init(errorContains: "stripe ANSWERED"))
        XCTAssertEqual(Set(outage.entries.map(\.id)), Set(stripe), "the last error, ignoring case")
        let both = try await dead.list(queue: "default", offset: 1, limit: 1, filter: .init(kind: NoopJob.kind, errorContains: "503"))
        XCTAssertEqual(both.total, 3)
        XCTAssertEqual(both.entries.map(\.id), [stripe[1]], "newest first, paged")
        let none = try await dead.list(queue: "default", filter: .init(kind: "no.such.kind"))
        XCTAssertEqual(none.total, 0)

        let replayed = try await dead.retryAll(queue: "default", filter: .init(kind: SleepJob.kind, errorContains: "timed out"))
        XCTAssertEqual(replayed.retried, 2)
        let lookup = JobLookup(redis: harness.redis, namespace: harness.namespace)
        for id in timeouts {
            let found = try await lookup.find(queue: "default", id: id)
            XCTAssertEqual(found?.state, .ready, "a replayed letter waits for a worker")
        }
        let deleted = try await dead.deleteAll(queue: "default", filter: .init(errorContains: "503"))
        XCTAssertEqual(deleted, 3)
        let left = try await dead.list(queue: "default")
        XCTAssertEqual(left.entries.map(\.id), [other], "the letter no filter took is still there")
        try await harness.clean()
    }

    /// A replay brings back the letter as it is when the replay runs: one that changed after it
    /// was read (another operator replayed it and it died again with a newer history, or cancelled
    /// it) is read again, not overwritten by the older copy. A page lists only letters it can show.
    func testAReplayNeverBringsBackAnOlderCopyAndAPageHasNoGhosts() async throws {
        let harness = try QueueHarness()
        let dead = harness.deadLetters
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let id = try await harness.client.enqueue(NoopJob.self, .init()).id
        _ = try await JobCancel(redis: harness.redis, namespace: harness.namespace).cancel(queue: "default", id: id, reason: "first")
        let stored = try await harness.redis.send("HGET", .string(keys.deadJobs), .string(id))
        let read = try XCTUnwrap(stored.bytes)
        // Meanwhile it is replayed, and dies again with a newer history.
        let shown = try await dead.show(queue: "default", id: id)
        var newer = try XCTUnwrap(shown.envelope)
        newer.errors.append(.init(attempt: 1, at: Clock.nowMillis(), message: "second death"))
        _ = try await harness.redis.send("HSET", .string(keys.deadJobs), .string(id), .raw(try newer.encoded()))

        let stale = try await harness.redis.run(
            QueueScripts.resurrect,
            keys: [.string(keys.dead), .string(keys.deadJobs), .string(keys.jobs), .string(keys.ring), .string(keys.wake)],
            arguments: [.string(keys.prefix), .string(id), .string("_"), .raw(read), .raw(read)])
        XCTAssertEqual(stale.int, -2, "the copy read is no longer the letter")
        let still = try await dead.show(queue: "default", id: id)
        XCTAssertEqual(still.envelope?.errors.last?.message, "second death", "nothing was brought back")

        try await dead.retry(queue: "default", id: id)
        let live = try await harness.redis.send("HGET", .string(keys.jobs), .string(id))
        let replayed = try XCTUnwrap(live.bytes)
        XCTAssertEqual(try JobEnvelope.decode(replayed).errors.last?.message, "second death", "the letter as it is now came back")

        // An id in the dead set without its payload (no path leaves one now) is not listed as a ghost.
        _ = try await harness.redis.send("ZADD", .string(keys.dead), .int64(Clock.nowMillis()), "orphan")
        let page = try await dead.list(queue: "default")
        XCTAssertFalse(page.entries.contains { $0.id == "orphan" }, "\(page.entries.map(\.id))")
        let deleted = try await dead.deleteAll(queue: "default")
        XCTAssertEqual(deleted, 1, "the orphan id, counted as deleted")
        try await harness.clean()
    }

    /// A deletion of the letter as an operator saw it (its time of death) leaves one that was
    /// replayed and died again since: it is not deleted unseen.
    func testDeletingTheLetterAsShownLeavesOneThatDiedAgainSince() async throws {
        let harness = try QueueHarness()
        let (stripe, _, _) = try await deadLetters(harness)
        let id = stripe[0]
        let shown = try await harness.deadLetters.show(queue: "default", id: id)
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        _ = try await harness.redis.send("ZADD", .string(keys.dead), "XX", .int64(shown.diedAt + 5_000), .string(id))
        do {
            try await harness.deadLetters.delete(queue: "default", id: id, diedAt: shown.diedAt)
            XCTFail("a letter that died again since was deleted")
        } catch let failure as DeadLetters.Failure {
            XCTAssertEqual(failure, .changedSince(queue: "default", id: id, diedAt: shown.diedAt))
            XCTAssertEqual(failure.refusal, .conflict)
        }
        let still = try await harness.deadLetters.show(queue: "default", id: id)
        XCTAssertEqual(still.diedAt, shown.diedAt + 5_000, "left as it is")
        try await harness.deadLetters.delete(queue: "default", id: id, diedAt: still.diedAt)
        let left = try await harness.deadLetters.list(queue: "default")
        XCTAssertFalse(left.entries.contains { $0.id == id }, "deleted as shown the second time")
        try await harness.clean()
    }

    func testTheCLITakesDeadLettersByKindAndError() async throws {
        let harness = try QueueHarness()
        let (_, timeouts, _) = try await deadLetters(harness)
        let env = try harness.childEnvironment()
        let list = try ChildProcess(arguments: ["dead", "list", "default", "--kind", SleepJob.kind], environment: env)
        let listed = try await list.waitForExit()
        XCTAssertEqual(listed, 0, list.log)
        XCTAssertTrue(list.log.contains("2 dead in default taken by the filter"), list.log)
        for id in timeouts { XCTAssertTrue(list.log.contains(id), list.log) }

        let retry = try ChildProcess(arguments: ["dead", "retry", "default", "--all", "--error", "TIMED OUT"], environment: env)
        let retried = try await retry.waitForExit()
        XCTAssertEqual(retried, 0, retry.log)
        XCTAssertTrue(retry.log.contains("replayed 2"), retry.log)
        let queue = try await harness.queue("default")
        XCTAssertEqual(queue?.dead, 4)
        XCTAssertEqual(queue?.ready, 2)

        let misuse = try ChildProcess(arguments: ["dead", "retry", "default", "some-id", "--kind", NoopJob.kind], environment: env)
        let refused = try await misuse.waitForExit()
        XCTAssertEqual(refused, 64, "a command line that does not parse: EX_USAGE, \(misuse.log)")
        XCTAssertTrue(misuse.log.contains("--kind and --error go with list or --all"), misuse.log)

        // Paging options out of range are usage errors, not a crash (a negative count trapped in
        // dropFirst, the largest offset overflowed).
        for arguments in [["dead", "list", "default", "--error", "timed", "--offset=-1"],
                          ["dead", "list", "default", "--limit=-1"],
                          ["dead", "list", "default", "--offset", "9223372036854775807"],
                          ["scheduled", "default", "--offset", "9223372036854775807"],
                          ["running", "default", "--offset", "9223372036854775807"]] {
            let out = try ChildProcess(arguments: arguments, environment: env)
            let status = try await out.waitForExit()
            XCTAssertEqual(status, 64, "\(arguments.joined(separator: " ")): \(out.log)")
            XCTAssertTrue(out.log.contains("--limit is 1-500 and --offset 0-1000000000"), out.log)
        }
        try await harness.clean()
    }

    /// A filtered bulk delete removes each letter only as its filter saw it: the script is given the
    /// payload read, and a letter that changed since (replayed by another operator, dead again of
    /// something else) is left.
    func testAFilteredDeleteLeavesALetterThatChangedSinceItMatched() async throws {
        let harness = try QueueHarness()
        let (stripe, _, _) = try await deadLetters(harness)
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let matchedPayload = try await harness.redis.send("HGET", .string(keys.deadJobs), .string(stripe[0])).bytes
        let first = (id: stripe[0], payload: try XCTUnwrap(matchedPayload))
        // Since it matched, the letter changed (its last error is another one now).
        let shown = try await harness.deadLetters.show(queue: "default", id: first.id)
        var changed = try XCTUnwrap(shown.envelope)
        changed.errors.append(JobErrorRecord(attempt: 2, at: Clock.nowMillis(), message: "card declined"))
        try await harness.redis.send("HSET", .string(keys.deadJobs), .string(first.id), .raw(try changed.encoded()))
        let stale = try await harness.redis.run(QueueScripts.deleteDead, keys: [.string(keys.dead), .string(keys.deadJobs)],
                                                arguments: [.string(first.id), .raw(first.payload)])
        XCTAssertEqual(stale.int, 0, "changed since it matched: left")
        let kept = try await harness.deadLetters.show(queue: "default", id: first.id)
        XCTAssertEqual(kept.envelope?.errors.last?.message, "card declined")
        let deleted = try await harness.deadLetters.deleteAll(queue: "default", filter: .init(errorContains: "503"))
        XCTAssertEqual(deleted, 2, "the two letters still as they matched")
        try await harness.clean()
    }
}
