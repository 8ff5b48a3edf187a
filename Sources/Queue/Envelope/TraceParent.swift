import Synchronization

/// W3C trace context for jobs: every job carries a `traceparent` (`00-<32 hex: trace id>-<16 hex:
/// span id>-<2 hex: flags>`), and every log line about it names the trace id. A job enqueued by an
/// HTTP request carries the request's; one enqueued by a running job (directly or through the
/// outbox) gets a child of the running job's — the same trace id, a span of its own — so an
/// operator follows one id from a request through every job it fans out into; any other job (the
/// scheduler's, the CLI's) starts a trace of its own.
public enum TraceParent {
    /// The running job's traceparent, for the jobs it enqueues (set by the worker around a job).
    @TaskLocal public static var current: String?

    /// The traceparent for a new job: a child of the running job's, or a new trace.
    public static func forNewJob() -> String {
        current.map(child(of:)) ?? make()
    }

    /// A new trace.
    public static func make() -> String {
        build(traceID: nil)
    }

    /// A span of `parent`'s trace (a new trace if `parent` is not a valid traceparent).
    public static func child(of parent: String) -> String {
        isValid(parent) ? build(traceID: parent.utf8.dropFirst(3).prefix(32)) : make()
    }

    /// The 32 hex digits that name the trace; all of `traceparent` if it is not one.
    public static func traceID(of traceparent: String) -> Substring {
        let utf8 = traceparent.utf8
        guard utf8.count == 55 else { return Substring(traceparent) }
        let start = utf8.index(utf8.startIndex, offsetBy: 3)
        return Substring(utf8[start..<utf8.index(start, offsetBy: 32)])
    }

    /// Version 00's shape, lowercase hex, and a trace id that is not all zeros.
    public static func isValid(_ value: String) -> Bool {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].count == 2, parts[1].count == 32, parts[2].count == 16, parts[3].count == 2 else {
            return false
        }
        return parts.allSatisfy { $0.utf8.allSatisfy(isLowerHex) } && parts[1].utf8.contains { $0 != UInt8(ascii: "0") }
    }

    private static func isLowerHex(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
    }

    /// Trace ids must be unique, not secret: SplitMix64 over an atomic counter seeded from the
    /// system's random source once, so making one costs no system call.
    private static let state: Atomic<UInt64> = {
        var generator = SystemRandomNumberGenerator()
        return Atomic(generator.next())
    }()

    private static func nextWord() -> UInt64 {
        var z = state.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `00-<trace id>-<new span id>-01`, written in one go; a new trace id unless one is given.
    private static func build(traceID: Substring.UTF8View?) -> String {
        String(unsafeUninitializedCapacity: 55) { out in
            var at = 0
            func put(_ byte: UInt8) { out[at] = byte; at += 1 }
            func putHex(_ word: UInt64) {
                for shift in stride(from: 60, through: 0, by: -4) { put(hexDigits[Int((word >> UInt64(shift)) & 0xF)]) }
            }
            put(UInt8(ascii: "0")); put(UInt8(ascii: "0")); put(UInt8(ascii: "-"))
            if let traceID {
                for byte in traceID { put(byte) }
            } else {
                putHex(nextWord()); putHex(nextWord())
            }
            put(UInt8(ascii: "-"))
            putHex(nextWord())
            put(UInt8(ascii: "-")); put(UInt8(ascii: "0")); put(UInt8(ascii: "1"))
            return at
        }
    }
}
