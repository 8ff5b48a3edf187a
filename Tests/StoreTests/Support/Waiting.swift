import Foundation
import Synchronization
import XCTest

/// Thrown when something a test waits for did not happen in time.
struct TimedOut: Error, CustomStringConvertible {
    let what: String
    let seconds: Double
    var description: String { "timed out after \(seconds) s waiting for \(what)" }
}

/// Waits until `condition` holds, checking every 10 ms, for at most `seconds`.
/// For events a test cannot await directly (another session blocking on a lock, a
/// delivery to a sink running in another task).
func eventually(
    within seconds: Double = 5, _ what: String,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    if try await condition() { return }
    throw TimedOut(what: what, seconds: seconds)
}

/// Collects values from concurrent tasks (a sink, an event handler) for a test to read.
final class Recorder<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])

    func append(_ element: Element) { items.withLock { $0.append(element) } }
    func append(contentsOf elements: [Element]) { items.withLock { $0.append(contentsOf: elements) } }
    var all: [Element] { items.withLock { $0 } }
    var count: Int { items.withLock { $0.count } }
}

/// A one-shot latch: `wait()` returns once `open()` has been called (before or after),
/// or when the waiting task is cancelled.
final class Latch: Sendable {
    private enum State {
        case closed([UUID: CheckedContinuation<Void, Never>])
        case open
    }
    private let state = Mutex(State.closed([:]))

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard case .closed(let waiters) = state else { return [] }
            state = .open
            return Array(waiters.values)
        }
        waiters.forEach { $0.resume() }
    }

    var isOpen: Bool { state.withLock { if case .open = $0 { true } else { false } } }

    func wait() async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    guard case .closed(var waiters) = state, !Task.isCancelled else { return true }
                    waiters[id] = continuation
                    state = .closed(waiters)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard case .closed(var waiters) = state, let waiter = waiters.removeValue(forKey: id) else { return nil }
                state = .closed(waiters)
                return waiter
            }
            waiter?.resume()
        }
    }
}

/// The error `operation` throws; fails the test if it returns instead.
func thrownError(
    _ operation: () async throws -> Void,
    file: StaticString = #filePath, line: UInt = #line
) async -> (any Error)? {
    do {
        try await operation()
        XCTFail("expected an error, but the operation succeeded", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// Runs `operation`, failing with ``TimedOut`` if it takes longer than `seconds`.
/// `operation` must end when cancelled.
func withTimeout<T: Sendable>(
    _ seconds: Double, _ what: String,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TimedOut(what: what, seconds: seconds)
        }
        defer { group.cancelAll() }
        guard let result = try await group.next() else { throw TimedOut(what: what, seconds: seconds) }
        return result
    }
}
