import HTTPTypes
import Hummingbird

/// W3C trace context: the caller's `traceparent` if it sent a valid one, else a new one, so
/// every request log line and every job it creates carry a trace id.
struct Trace: Sendable {
    /// `00-<trace id>-<parent id>-<flags>`, stored in the job's envelope.
    let traceparent: String

    /// The 32 hex digits that name the trace.
    var traceID: Substring {
        let parts = traceparent.split(separator: "-")
        return parts.count >= 2 ? parts[1] : Substring(traceparent)
    }

    init(headers: HTTPFields) {
        if let given = headers[.traceparent], Self.isValid(given) {
            traceparent = given
        } else {
            traceparent = "00-\(Self.randomHex(words: 2))-\(Self.randomHex(words: 1))-01"
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

    /// `words` random 64-bit words as hex (one system call each).
    private static func randomHex(words: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<words {
            let word = generator.next()
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return Hex.encode(bytes)
    }
}
