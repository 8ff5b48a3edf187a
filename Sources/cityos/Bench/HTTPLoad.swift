import Foundation
import Histogram

#if canImport(Glibc)
import Glibc
#endif

/// A closed-loop HTTP/1.1 load generator for `cityos bench http`: each connection sends one
/// request, waits for the whole answer, then sends the next, like wrk without a script.
///
/// It exists because the load generator shares the 2-core benchmark machine with the server
/// and Redis, so what it spends per request is taken from them: wrk with a Lua `request()`
/// that hands out distinct signed events spent more CPU per request than the ingress itself.
/// Here every request is built before the clock starts and a thread's loop only writes bytes,
/// reads answers and records latencies: no script, no allocation, no event re-registration
/// per request. All threads start together after a warm-up, and only answers completed inside
/// the measured window count.
enum HTTPLoad {
    struct Configuration: Sendable {
        var host = "127.0.0.1"
        var port = 8080
        var connections = 32
        var threads = 2
        var warmup: Duration = .seconds(1)
        var duration: Duration = .seconds(10)
    }

    /// What one run measured: answers completed in the window, by kind, and their latencies.
    struct Result: Codable, Sendable {
        var seconds: Double
        var connections: Int
        var threads: Int
        /// 2xx answers per second.
        var okPerS: Double
        var ok: Int
        var non2xx: Int
        /// Connections that failed, closed or sent something that is not an HTTP/1.1 answer.
        var errors: Int
        var p50Ms: Double
        var p90Ms: Double
        var p99Ms: Double
        var maxMs: Double
        /// CPU time the generator itself used per answer (all its threads, user + system).
        var clientCPUPerRequestUs: Double
        /// More requests were sent than were built, so some were sent twice (a single request is
        /// meant to be sent again and again).
        var wrapped: Bool
    }

    enum Failure: Error, CustomStringConvertible {
        case connect(String)
        case noRequests

        var description: String {
            switch self {
            case .connect(let why): return "cannot connect: \(why)"
            case .noRequests: return "no requests to send"
            }
        }
    }

    static func run(_ configuration: Configuration, requests: RequestSet) throws -> Result {
        guard requests.count > 0 else { throw Failure.noRequests }
        let threads = max(1, min(configuration.threads, configuration.connections))
        // Every thread starts sending at the same instant, once all are connected.
        let begin = monotonicNanos() + 200_000_000
        let start = begin + nanos(configuration.warmup)
        let window = Window(begin: begin, start: start, end: start + nanos(configuration.duration))
        let shares = (0..<threads).map { t in configuration.connections / threads + (t < configuration.connections % threads ? 1 : 0) }
        var workers: [LoadThread] = []
        for t in 0..<threads {
            workers.append(try LoadThread(index: t, stride: threads, connections: shares[t], host: configuration.host,
                                          port: configuration.port, requests: requests, window: window))
        }
        let cpuBefore = processCPUNanos()
        let done = DispatchGroup()
        for worker in workers {
            done.enter()
            let thread = Thread { worker.run(); done.leave() }
            thread.start()
        }
        done.wait()
        let cpu = processCPUNanos() - cpuBefore
        var latencies = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var ok = 0, non2xx = 0, errors = 0, sent = 0, answered = 0
        for worker in workers {
            latencies.add(worker.latencies)
            ok += worker.ok
            non2xx += worker.non2xx
            errors += worker.errors
            sent += worker.sent
            answered += worker.answered
        }
        let seconds = Double(window.end - window.start) / 1e9
        func ms(_ percentile: Double) -> Double { Double(latencies.valueAtPercentile(percentile)) / 1000 }
        return Result(seconds: seconds, connections: configuration.connections, threads: threads,
                      okPerS: Double(ok) / seconds, ok: ok, non2xx: non2xx, errors: errors,
                      p50Ms: ms(50), p90Ms: ms(90), p99Ms: ms(99), maxMs: Double(latencies.max) / 1000,
                      clientCPUPerRequestUs: Double(cpu) / 1000 / Double(max(1, answered)),
                      wrapped: requests.count > 1 && sent > requests.count)
    }

    /// Monotonic nanoseconds: sending starts at `begin`, counting at `start` (after the warm-up),
    /// and everything stops at `end`.
    struct Window: Sendable {
        let begin: UInt64
        let start: UInt64
        let end: UInt64
    }

    static func nanos(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds / 1_000_000_000))
    }

    static func monotonicNanos() -> UInt64 { nanos(of: CLOCK_MONOTONIC) }

    /// CPU time of the whole process (all its threads).
    static func processCPUNanos() -> UInt64 { nanos(of: CLOCK_PROCESS_CPUTIME_ID) }

    private static func nanos(of clock: clockid_t) -> UInt64 {
        var now = timespec()
        clock_gettime(clock, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// Requests built ahead, back to back in one buffer. Read-only once built, shared by the threads.
final class RequestSet: @unchecked Sendable {
    private let storage: UnsafeMutableRawBufferPointer
    private let starts: [Int]

    /// Builds `count` requests, `make(i)` writing the `i`th into the buffer it is given.
    init(count: Int, _ make: (Int, inout [UInt8]) -> Void) {
        var bytes: [UInt8] = []
        var starts = [0]
        starts.reserveCapacity(count + 1)
        for i in 0..<count {
            make(i, &bytes)
            starts.append(bytes.count)
        }
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 16)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0) }
        self.storage = storage
        self.starts = starts
    }

    deinit { storage.deallocate() }

    var count: Int { starts.count - 1 }

    /// The `index`th request (modulo the count).
    func request(_ index: Int) -> UnsafeRawBufferPointer {
        let i = index % count
        return UnsafeRawBufferPointer(rebasing: storage[starts[i]..<starts[i + 1]])
    }
}
