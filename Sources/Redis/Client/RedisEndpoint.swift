import Redaction

/// Where a Redis server is: read from a `redis://[[user]:password@]host[:port][/db]` URL, or,
/// for a Redis on the same machine, `unix://[[user]:password@]/path/to/redis.sock[?db=N]` (its
/// Unix socket: no TCP stack between the two, which spares both sides CPU on every round trip).
/// A user and password are percent-decoded (`%40` for an `@` in a password); with a user, the
/// connection authenticates as that ACL user (`AUTH user password`), without one as `default`.
public struct RedisEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// The Unix socket's path; when set, `host` and `port` are not used.
    public var socketPath: String?
    /// The ACL user (Redis 6+); nil authenticates as `default`.
    public var username: String?
    public var password: String?
    public var database: Int

    public init(host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil,
                database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    public init(socketPath: String, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.init(username: username, password: password, database: database)
        self.socketPath = socketPath
    }

    /// What the connection sends to authenticate, if anything: `AUTH [user] password`; for the
    /// user `default`, `AUTH password`, which Redis before 6 (without users) also takes.
    var authCommand: RedisCommand? {
        guard let password else { return nil }
        if let username, username != "default" { return RedisCommand("AUTH", .string(username), .string(password)) }
        return RedisCommand("AUTH", .string(password))
    }

    /// Where it is, for messages: `host:port`, or the socket's path.
    public var address: String { socketPath ?? "\(host):\(port)" }

    public init(url: String) throws(RedisError) {
        let parsed: RedisEndpoint?
        if url.hasPrefix("unix://") {
            parsed = Self.socket(Substring(url.dropFirst("unix://".count)))
        } else if url.hasPrefix("redis://") {
            parsed = Self.tcp(Substring(url.dropFirst("redis://".count)))
        } else {
            parsed = nil
        }
        guard let parsed else { throw .invalidURL(URLRedaction.maskingSecret(in: url)) }
        self = parsed
    }

    /// After `redis://`: `[[user]:password@]host[:port][/db]`.
    private static func tcp(_ text: Substring) -> RedisEndpoint? {
        var rest = text
        guard let (username, password) = credentials(takenFrom: &rest) else { return nil }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            if !db.isEmpty {
                guard let n = Int(db), n >= 0 else { return nil }
                database = n
            }
            rest = rest[..<slash]
        }
        var port = 6379
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { return nil }
        return RedisEndpoint(host: String(rest), port: port, username: username, password: password, database: database)
    }

    /// After `unix://`: `[[user]:password@]/path[?db=N]`.
    private static func socket(_ text: Substring) -> RedisEndpoint? {
        var rest = text
        guard let (username, password) = credentials(takenFrom: &rest) else { return nil }
        var database = 0
        if let question = rest.firstIndex(of: "?") {
            let query = rest[rest.index(after: question)...]
            guard query.hasPrefix("db="), let n = Int(query.dropFirst(3)), n >= 0 else { return nil }
            database = n
            rest = rest[..<question]
        }
        guard rest.hasPrefix("/"), rest.count > 1 else { return nil }
        return RedisEndpoint(socketPath: String(rest), username: username, password: password, database: database)
    }

    /// Takes `[user][:password]@` off the front of `rest`: the user and the password given, each
    /// percent-decoded (nil when empty or absent); nil when one of them is not valid
    /// percent-encoding. `user:@` (a user without a password) sends no AUTH; `word@` alone is
    /// read as a password, as builds before users were read it.
    private static func credentials(takenFrom rest: inout Substring) -> (String?, String?)? {
        guard let at = rest.lastIndex(of: "@") else { return (nil, nil) }
        let parts = rest[..<at].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        rest = rest[rest.index(after: at)...]
        guard let user = percentDecoded(parts.count == 2 ? parts[0] : ""),
              let secret = percentDecoded(parts.count == 2 ? parts[1] : (parts.first ?? ""))
        else { return nil }
        let password = secret.isEmpty ? nil : secret
        return (password == nil || user.isEmpty ? nil : user, password)
    }

    /// `text` with each `%XX` turned into its byte; nil for a `%` not followed by two hex digits
    /// or bytes that are not UTF-8.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The URL with any password masked, safe for logs and `cityos config`.
    public var redacted: String {
        let auth = password == nil ? "" : "\(username ?? ""):\(URLRedaction.mask)@"
        if let socketPath { return "unix://\(auth)\(socketPath)" + (database == 0 ? "" : "?db=\(database)") }
        return "redis://\(auth)\(host):\(port)/\(database)"
    }
}
