import CityOSTesting
import Foundation
import Jobs
@testable import Queue
import Redis
import XCTest

/// Paging by cursor (`after`, a page's last entry): while letters leave the list (replayed,
/// deleted) or join it, paging through never skips a letter that stays nor shows one twice, ties
/// of one millisecond included, whether the cursor's own entry is still there (the next page by
/// rank) or gone (by time and id); an offset skips one entry for each gone from before it.
final class PageCursorTests: XCTestCase {
    func testPagingDeadLettersByCursorSkipsNothingAndRepeatsNothingWhileTheyChange() async throws {
        let harness = try QueueHarness()
        let dead = harness.deadLetters
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        let cancelling = JobCancel(redis: harness.redis, namespace: harness.namespace)
        var ids: [String] = []
        for _ in 0..<7 {
            let id = try await harness.client.enqueue(NoopJob.self, .init()).id
            _ = try await cancelling.cancel(queue: "default", id: id, reason: "page test")
            ids.append(id)
        }
        // Died at these times (ms), ties included.
        let times: [Int64] = [1_000, 2_000, 2_000, 2_000, 3_000, 4_000, 4_000]
        for (id, time) in zip(ids, times) {
            _ = try await harness.redis.send("ZADD", .string(keys.dead), .string(String(time)), .string(id))
        }
        // Newest first: by time, then by id in byte order, both descending (Redis's REV order):
        // 4000, 4000, 3000, 2000, 2000, 2000, 1000.
        let order = zip(ids, times).sorted { a, b in
            a.1 != b.1 ? a.1 > b.1 : Array(b.0.utf8).lexicographicallyPrecedes(Array(a.0.utf8))
        }.map(\.0)
        func cursor(_ entries: [DeadLetters.Entry]) throws -> PageCursor {
            try XCTUnwrap(entries.last.map { PageCursor(at: $0.diedAt, id: $0.id) })
        }

        let first = try await dead.list(queue: "default", limit: 4)
        XCTAssertEqual(first.entries.map(\.id), Array(order[0..<4]))
        let inTie = try cursor(first.entries)
        XCTAssertEqual(inTie.at, 2_000, "the cursor falls inside the three letters of 2000")
        XCTAssertEqual(PageCursor(inTie.description), inTie, "written and read back")
        let byRank = try await dead.list(queue: "default", limit: 3, after: inTie)
        XCTAssertEqual(byRank.entries.map(\.id), Array(order[4..<7]), "its entry still there: the next by rank")

        // Meanwhile a letter of the first page is replayed, the cursor's own entry is deleted, and
        // one of the next page too.
        try await dead.retry(queue: "default", id: order[1])
        try await dead.delete(queue: "default", id: order[3])
        try await dead.delete(queue: "default", id: order[5])
        let byOffset = try await dead.list(queue: "default", offset: 4, limit: 3)
        XCTAssertNotEqual(byOffset.entries.first?.id, order[4], "an offset skips the letter that moved up")
        let second = try await dead.list(queue: "default", limit: 3, after: inTie)
        XCTAssertEqual(second.entries.map(\.id), [order[4], order[6]], "right after the cursor, its entry gone: nothing skipped")
        let end = try await dead.list(queue: "default", limit: 3, after: try cursor(second.entries))
        XCTAssertEqual(end.entries.map(\.id), [])
        let filtered = try await dead.list(queue: "default", limit: 1, after: inTie, filter: .init(kind: NoopJob.kind))
        XCTAssertEqual(filtered.entries.map(\.id), [order[4]], "the same through a filter (read in Swift)")
        try await harness.clean()
    }

    func testPagingTheScheduleByCursorKeepsItsOrderThroughTies() async throws {
        let harness = try QueueHarness()
        let keys = QueueKeys(queue: "default", namespace: harness.namespace)
        var later: [String] = []
        for _ in 0..<5 {
            later.append(try await harness.client.enqueue(NoopJob.self, .init(), options: .init(delaySeconds: 3600)).id)
        }
        let due: [Int64] = [9_000_000_000_000, 9_000_000_000_000, 9_000_000_000_001, 9_000_000_000_000, 9_000_000_000_001]
        for (id, time) in zip(later, due) {
            _ = try await harness.redis.send("ZADD", .string(keys.schedule), .string(String(time)), .string(id))
        }
        let soonest = zip(later, due).sorted { a, b in
            a.1 != b.1 ? a.1 < b.1 : Array(a.0.utf8).lexicographicallyPrecedes(Array(b.0.utf8))
        }.map(\.0)
        let scheduled = ScheduledJobs(redis: harness.redis, namespace: harness.namespace)
        let page = try await scheduled.list(queue: "default", limit: 2)
        XCTAssertEqual(page.entries.map(\.id), Array(soonest[0..<2]))
        let cursor = try XCTUnwrap(page.entries.last.map { PageCursor(at: $0.dueAt, id: $0.id) })
        let next = try await scheduled.list(queue: "default", limit: 2, after: cursor)
        XCTAssertEqual(next.entries.map(\.id), Array(soonest[2..<4]), "its entry there: by rank")
        _ = try await harness.redis.send("ZREM", .string(keys.schedule), .string(cursor.id))   // it ran meanwhile
        let without = try await scheduled.list(queue: "default", limit: 3, after: cursor)
        XCTAssertEqual(without.entries.map(\.id), Array(soonest[2..<5]), "its entry gone: by time and id")
        try await harness.clean()
    }
}
