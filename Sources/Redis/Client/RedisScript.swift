import Crypto

/// A Lua script known by its SHA1, run with EVALSHA and reloaded on NOSCRIPT by `RedisClient`.
/// Keep each script as a constant beside the code that calls it, with a comment naming its
/// keys, its arguments and what it guarantees.
public struct RedisScript: Sendable {
    public let name: String
    public let source: String
    public let sha1: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8))
            .map { byte in
                let hex = String(byte, radix: 16)
                return byte < 16 ? "0" + hex : hex
            }
            .joined()
    }

    /// One call of the script, ready to pipeline.
    public struct Invocation: Sendable {
        public let script: RedisScript
        public let command: RedisCommand
    }

    public func invocation(keys: [RedisArgument], arguments: [RedisArgument]) -> Invocation {
        let command = RedisCommand("EVALSHA", [.string(sha1), .int(keys.count)] + keys + arguments)
        return Invocation(script: self, command: command)
    }
}
