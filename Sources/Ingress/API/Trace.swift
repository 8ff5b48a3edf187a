import HTTPTypes
import Synchronization
import Hummingbird

/// W3C trace context: the caller's `traceparent` if it sent a valid one, else a new one, so
/// every request log line and every job it creates carry a trace id.
struct Trace: Sendable {
    /// `00-<trace id>-<parent id>-<flags>`, stored in the job's envelope.
    let traceparent: String

    /// The 32 hex digits that name the trace (`traceparent` is always `00-<32>-<16>-<2>`: a
    /// given one was checked by `isValid`, a made one is built so).
    var traceID: Substring {
        let utf8 = traceparent.utf8
        guard utf8.count == 55 else { return Substring(traceparent) }
        let start = utf8.index(utf8.startIndex, offsetBy: 3)
        return Substring(utf8[start..<utf8.index(start, offsetBy: 32)])
    }

    init(headers: HTTPFields) {
        self.init(traceparent: headers[.traceparent])
    }

    /// The given `traceparent` header's value if it is valid, else a new one.
    init(traceparent given: String?) {
        if let given, Self.isValid(given) {
            traceparent = given
        } else {
            traceparent = Self.make()
        }
    }

    static func isValid(_ value: String) -> Bool {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].count == 2, parts[1].count == 32, parts[2].count == 16, parts[3].count == 2 else {
            return false
        }
        return parts.allSatisfy { $0.utf8.allSatisfy(isLowerHex) } && parts[1] != Substring(String(repeating: "0", count: 32))
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

    /// A new traceparent, `00-<32 hex: trace id>-<16 hex: span id>-01`, written in one go.
    private static func make() -> String {
        String(unsafeUninitializedCapacity: 55) { out in
            var at = 0
            func put(_ byte: UInt8) { out[at] = byte; at += 1 }
            func putHex(_ word: UInt64) {
                for shift in stride(from: 60, through: 0, by: -4) { put(Hex.digits[Int((word >> UInt64(shift)) & 0xF)]) }
            }
            put(UInt8(ascii: "0")); put(UInt8(ascii: "0")); put(UInt8(ascii: "-"))
            putHex(nextWord()); putHex(nextWord())
            put(UInt8(ascii: "-"))
            putHex(nextWord())
            put(UInt8(ascii: "-")); put(UInt8(ascii: "0")); put(UInt8(ascii: "1"))
            return at
        }
    }
}
