import Foundation
import Synchronization

/// Job ids are UUIDv7: time-ordered (sorting ids sorts by creation), unique without coordination.
public enum JobID {
    /// Last (millisecond, counter) handed out, so ids made one after another in this process
    /// sort in that order even within one millisecond (RFC 9562, method 1: a 12-bit counter).
    private static let last = Mutex<(ms: UInt64, counter: UInt16)>((0, 0))
    /// The random part comes from a generator seeded once per process from the system's:
    /// one syscall per process instead of one per id. Ids need uniqueness, not secrecy.
    private static let random = Mutex(SplitMix64(seed: UInt64.random(in: 0...UInt64.max)))

    /// A new UUIDv7 string, e.g. `0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b`.
    public static func make(at date: Date = Date()) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let now = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        let (ms, counter) = last.withLock { last -> (UInt64, UInt16) in
            if now > last.ms {
                last = (now, UInt16.random(in: 0...0x3ff))   // leave room to count up
            } else if last.counter < 0xfff {
                last.counter += 1
            } else {
                last = (last.ms + 1, 0)   // counter exhausted: borrow the next millisecond
            }
            return last
        }
        for i in 0..<6 { bytes[i] = UInt8((ms >> (8 * (5 - UInt64(i)))) & 0xff) }
        let bits = random.withLock { $0.next() }
        for i in 8..<16 { bytes[i] = UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i - 8))) }
        bytes[6] = UInt8(counter >> 8)
        bytes[7] = UInt8(counter & 0xff)
        bytes[6] = (bytes[6] & 0x0f) | 0x70   // version 7
        bytes[8] = (bytes[8] & 0x3f) | 0x80   // RFC 4122 variant
        return format(bytes)
    }

    /// A deterministic id in UUID form derived from a name (e.g. a schedule and its tick),
    /// so that everyone who derives it gets the same id.
    public static func derived(from name: String) -> String {
        // FNV-1a 128-bit would do; two 64-bit FNV-1a passes with different seeds suffice here.
        var a: UInt64 = 0xcbf29ce484222325, b: UInt64 = 0x84222325cbf29ce4
        for byte in name.utf8 {
            a = (a ^ UInt64(byte)) &* 0x100000001b3
            b = (b ^ UInt64(byte)) &* 0x100000001b3 &+ 0x9e3779b97f4a7c15
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { bytes[i] = UInt8((a >> (8 * UInt64(i))) & 0xff) }
        for i in 0..<8 { bytes[8 + i] = UInt8((b >> (8 * UInt64(i))) & 0xff) }
        bytes[6] = (bytes[6] & 0x0f) | 0x80   // version 8: custom
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        return format(bytes)
    }

    private static let hex = Array("0123456789abcdef".utf8)

    private static func format(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(36)
        for (i, byte) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// SplitMix64: a small, fast generator with a full 2^64 period.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e3779b97f4a7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
}
