import NIOCore

/// One command as a value: its arguments as bytes, and whether it blocks the connection.
public struct RedisCommand: Sendable {
    public var arguments: [[UInt8]]

    public init(_ name: String, _ arguments: [RedisArgument] = []) {
        self.arguments = [Array(name.utf8)] + arguments.map(\.bytes)
    }

    public init(_ name: String, _ arguments: RedisArgument...) {
        self.init(name, arguments)
    }

    /// The command name, for logs (never the arguments: they may carry secrets).
    public var name: String { String(decoding: arguments.first ?? [], as: UTF8.self) }

    /// Appends the command as a RESP2 array of bulk strings. Binary-safe: lengths, not
    /// terminators, delimit each argument (the same bytes `redisFormatCommandArgv` writes).
    func encode(into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: encodedSizeEstimate)
        Self.writeHeader(UInt8(ascii: "*"), arguments.count, into: &buffer)
        for argument in arguments {
            Self.writeHeader(UInt8(ascii: "$"), argument.count, into: &buffer)
            buffer.writeBytes(argument)
            buffer.writeStaticString("\r\n")
        }
    }

    private var encodedSizeEstimate: Int {
        arguments.reduce(16) { $0 + $1.count + 16 }
    }

    /// Writes `*N\r\n` or `$N\r\n` without building a String for N (this runs once per argument).
    private static func writeHeader(_ marker: UInt8, _ count: Int, into buffer: inout ByteBuffer) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = count
        var length = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[19 - length] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
                length += 1
            } while n > 0
            buffer.writeInteger(marker)
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[(20 - length)...]))
        }
        buffer.writeStaticString("\r\n")
    }
}

/// Anything that can be a command argument: text, numbers or raw bytes.
public struct RedisArgument: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }
    public init(_ int: Int) { self.bytes = Array(String(int).utf8) }
    public init(_ double: Double) { self.bytes = Array(String(double).utf8) }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }
}

extension RedisArgument {
    public static func string(_ s: String) -> RedisArgument { RedisArgument(s) }
    public static func int(_ i: Int) -> RedisArgument { RedisArgument(i) }
    public static func raw(_ b: [UInt8]) -> RedisArgument { RedisArgument(bytes: b) }
}
