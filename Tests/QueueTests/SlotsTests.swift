import XCTest
@testable import Queue

/// The fetcher's wait for free slots and a stop that comes just before it.
final class SlotsTests: XCTestCase {
    /// A stop that lands between the fetcher's "not stopping" check and its wait for free slots
    /// ends that wait at once. Before, the stop's wake-up found no waiter, the fetcher then slept
    /// until half its slots were free, and shutdown (with its grace period) had not begun: long
    /// jobs held the process until its supervisor killed it.
    func testAStopJustBeforeTheFetcherWaitsEndsTheWaitAtOnce() async throws {
        let slots = Slots(capacity: 4)
        slots.take(4)
        slots.stopFetching()
        let ended = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await slots.waitForFree(2, fetcher: true); return true }
            group.addTask { try? await Task.sleep(for: .seconds(5)); return false }
            let first = await group.next() ?? false
            if !first { slots.wakeWaiter() }   // let the waiting task end before the group does
            group.cancelAll()
            return first
        }
        XCTAssertTrue(ended, "the fetcher kept waiting for slots after the pool stopped")
        // Shutdown's own wait for every slot is not ended by it.
        let drained = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await slots.waitForFree(4); return true }
            group.addTask { try? await Task.sleep(for: .milliseconds(200)); return false }
            let first = await group.next() ?? true
            for _ in 0..<4 { slots.release() }
            group.cancelAll()
            return first
        }
        XCTAssertFalse(drained, "the drain's wait ended with every slot still busy")
    }
}
