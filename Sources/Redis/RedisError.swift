/// What can go wrong talking to Redis, each case saying what happened and what to do.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing listens at the address (connection refused, unknown host).
    case connectionRefused(address: String, reason: String)
    /// The connection did not complete, or a reply did not arrive, within the deadline.
    /// A timed-out connection is closed: its pending replies can no longer be matched.
    case timeout(address: String, seconds: Double)
    /// The connection closed before a reply arrived (server restart, network loss).
    /// The command may or may not have run; the next call reconnects.
    case connectionClosed(address: String)
    /// The server answered with an error reply (`-ERR …`, `-WRONGTYPE …`, `-NOSCRIPT …`).
    case server(String)
    /// The bytes from the server were not RESP2: the connection is closed.
    case protocolError(String)
    /// A reply had a shape the caller did not expect (e.g. a string where an integer was due).
    case unexpectedReply(String)
    /// A URL in configuration could not be read.
    case invalidURL(String)

    public var description: String {
        switch self {
        case .connectionRefused(let address, let reason):
            return "Redis at \(address) refused the connection (\(reason)); is redis-server running?"
        case .timeout(let address, let seconds):
            return "Redis at \(address) did not answer within \(seconds)s"
        case .connectionClosed(let address):
            return "the connection to Redis at \(address) closed before the reply arrived"
        case .server(let message):
            return "Redis error reply: \(message)"
        case .protocolError(let message):
            return "Redis protocol error: \(message)"
        case .unexpectedReply(let message):
            return "unexpected Redis reply: \(message)"
        case .invalidURL(let url):
            return "invalid Redis URL '\(url)': expected redis://[[user]:password@]host:port[/db] or unix://[[user]:password@]/path/to/redis.sock[?db=N]"
        }
    }

    /// Redis is loading its data set after a restart (`-LOADING`): it answers soon.
    public var isLoading: Bool {
        if case .server(let message) = self { return message.hasPrefix("LOADING") }
        return false
    }

    /// True for failures of the connection rather than answers of the server: a connect that
    /// failed (nothing was sent), or a timeout, a closed connection or unreadable bytes after
    /// the command was sent, when the server may or may not have run it. Trying again later is
    /// for commands that are safe to run twice.
    public var isConnectionFailure: Bool {
        switch self {
        case .connectionRefused, .timeout, .connectionClosed, .protocolError: return true
        case .server, .unexpectedReply, .invalidURL: return false
        }
    }
}
