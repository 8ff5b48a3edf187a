import Redaction

/// Where a Redis server is: read from a `redis://[:password@]host[:port][/db]` URL, or, for a
/// Redis on the same machine, `unix://[:password@]/path/to/redis.sock[?db=N]` (its Unix socket:
/// no TCP stack between the two, which spares both sides CPU on every round trip).
public struct RedisEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// The Unix socket's path; when set, `host` and `port` are not used.
    public var socketPath: String?
    public var password: String?
    public var database: Int

    public init(host: String = "127.0.0.1", port: Int = 6379, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.password = password
        self.database = database
    }

    public init(socketPath: String, password: String? = nil, database: Int = 0) {
        self.init(password: password, database: database)
        self.socketPath = socketPath
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

    /// After `redis://`: `[:password@]host[:port][/db]`.
    private static func tcp(_ text: Substring) -> RedisEndpoint? {
        var rest = text
        let password = password(takenFrom: &rest)
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
        return RedisEndpoint(host: String(rest), port: port, password: password, database: database)
    }

    /// After `unix://`: `[:password@]/path[?db=N]`.
    private static func socket(_ text: Substring) -> RedisEndpoint? {
        var rest = text
        let password = password(takenFrom: &rest)
        var database = 0
        if let question = rest.firstIndex(of: "?") {
            let query = rest[rest.index(after: question)...]
            guard query.hasPrefix("db="), let n = Int(query.dropFirst(3)), n >= 0 else { return nil }
            database = n
            rest = rest[..<question]
        }
        guard rest.hasPrefix("/"), rest.count > 1 else { return nil }
        return RedisEndpoint(socketPath: String(rest), password: password, database: database)
    }

    /// Takes `[user][:password]@` off the front of `rest`; the password, if one is given.
    private static func password(takenFrom rest: inout Substring) -> String? {
        guard let at = rest.lastIndex(of: "@") else { return nil }
        let secret = rest[..<at].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).last ?? ""
        rest = rest[rest.index(after: at)...]
        return secret.isEmpty ? nil : String(secret)
    }

    /// The URL with any password masked, safe for logs and `cityos config`.
    public var redacted: String {
        let auth = password == nil ? "" : ":\(URLRedaction.mask)@"
        if let socketPath { return "unix://\(auth)\(socketPath)" + (database == 0 ? "" : "?db=\(database)") }
        return "redis://\(auth)\(host):\(port)/\(database)"
    }
}
