import Foundation
import Synchronization

/// Time-ordered job ids: UUIDv7 (RFC 9562), lowercase, e.g. `01890a5d-ac96-774b-bcce-b302099a8057`.
///
/// The first 48 bits are Unix milliseconds, so ids sort by creation time as strings.
/// Within one millisecond a 12-bit counter (RFC 9562 method 1) keeps the ids of this
/// process strictly increasing; if it overflows, the timestamp borrows a millisecond.
public enum TimeOrderedID {
    private struct State {
        var millis: UInt64 = 0
        var counter: UInt16 = 0
    }

    private static let state = Mutex(State())

    /// A new id for now.
    public static func make(now: Date = Date()) -> String {
        var random = SystemRandomNumberGenerator()
        let clock = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let (millis, counter) = state.withLock { state -> (UInt64, UInt16) in
            if clock > state.millis {
                state.millis = clock
                state.counter = UInt16.random(in: 0..<0x400, using: &random)  // room to count up
            } else if state.counter < 0xFFF {
                state.counter += 1
            } else {
                state.millis += 1
                state.counter = 0
            }
            return (state.millis, state.counter)
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 {
            bytes[index] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - index)))
        }
        bytes[6] = 0x70 | UInt8(truncatingIfNeeded: counter >> 8)  // version 7
        bytes[7] = UInt8(truncatingIfNeeded: counter)
        let tail = random.next() as UInt64
        for index in 8..<16 {
            bytes[index] = UInt8(truncatingIfNeeded: tail >> (8 * (15 - index)))
        }
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // variant 10
        let uuid = UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
        ))
        return uuid.uuidString.lowercased()
    }
}
