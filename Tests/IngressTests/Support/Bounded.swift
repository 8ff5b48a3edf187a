import Foundation
import Synchronization

/// Bounded waits: an await that does not finish in time fails the test with a message naming
/// what was awaited, instead of hanging the suite.
enum Bounded {
    struct TimedOut: Error, CustomStringConvertible {
        let description: String
    }

    static func wait<T: Sendable>(_ what: String, seconds: Double = 20,
                                  _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let once = Once()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let work = Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                if once.first() { continuation.resume(with: result) }
            }
            Task {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                if once.first() {
                    work.cancel()
                    continuation.resume(throwing: TimedOut(description: "timed out after \(seconds) s waiting for \(what)"))
                }
            }
        }
    }
}

/// True for the first caller only.
private final class Once: Sendable {
    private let done = Mutex(false)
    func first() -> Bool { done.withLock { done in defer { done = true }; return !done } }
}
