/// Where a Redis server is: read from a `redis://[:password@]host[:port][/db]` URL.
public struct RedisEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var password: String?
    public var database: Int

    public init(host: String = "127.0.0.1", port: Int = 6379, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.password = password
        self.database = database
    }

    public init(url: String) throws(RedisError) {
        guard url.hasPrefix("redis://") else { throw .invalidURL(url) }
        var rest = Substring(url.dropFirst("redis://".count))
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let secret = userinfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).last ?? ""
            password = secret.isEmpty ? nil : String(secret)
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            if !db.isEmpty {
                guard let n = Int(db), n >= 0 else { throw .invalidURL(url) }
                database = n
            }
            rest = rest[..<slash]
        }
        var port = 6379
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw .invalidURL(url)
            }
            port = p
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw .invalidURL(url) }
        self.init(host: String(rest), port: port, password: password, database: database)
    }

    /// The URL with any password masked, safe for logs and `cityos config`.
    public var redacted: String {
        let auth = password == nil ? "" : ":****@"
        return "redis://\(auth)\(host):\(port)/\(database)"
    }
}
