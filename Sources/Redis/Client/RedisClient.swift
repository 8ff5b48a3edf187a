import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

/// The platform's handle on Redis: a few shared connections that every caller multiplexes
/// onto (commands from concurrent tasks are pipelined for free), reconnected on demand after
/// the server restarts, plus dedicated connections for blocking commands.
public final class RedisClient: Sendable {
    /// How the client connects and how long it waits.
    public struct Configuration: Sendable {
        public var endpoint: RedisEndpoint
        /// Shared connections. A few are enough: each pipelines many callers.
        public var connections: Int
        public var connectTimeout: TimeAmount
        public var commandTimeout: TimeAmount

        public init(endpoint: RedisEndpoint, connections: Int = 4,
                    connectTimeout: TimeAmount = .seconds(2), commandTimeout: TimeAmount = .seconds(5)) {
            self.endpoint = endpoint
            self.connections = max(1, connections)
            self.connectTimeout = connectTimeout
            self.commandTimeout = commandTimeout
        }
    }

    public let configuration: Configuration
    private let slots: [ConnectionSlot]
    private let next = Atomic<Int>(0)
    private let scripts = NIOLockedValueBox<[String: RedisScript]>([:])

    public init(_ configuration: Configuration) {
        self.configuration = configuration
        self.slots = (0..<configuration.connections).map { _ in ConnectionSlot() }
    }

    public convenience init(url: String) throws(RedisError) {
        self.init(Configuration(endpoint: try RedisEndpoint(url: url)))
    }

    // MARK: Commands

    /// Runs one command; an error reply throws `RedisError.server`.
    @discardableResult
    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisReply {
        try await sharedConnection().send(command, timeout: configuration.commandTimeout).unwrapped()
    }

    /// Runs one command given as words: `try await redis.send("SET", "k", "v")`.
    @discardableResult
    public func send(_ name: String, _ arguments: RedisArgument...) async throws(RedisError) -> RedisReply {
        try await send(RedisCommand(name, arguments))
    }

    /// Runs many commands in one round trip; replies come back in order. Error replies are
    /// values (`.error`) in the result, so one failed command does not hide the others.
    @discardableResult
    public func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [RedisReply] {
        try await sharedConnection().send(commands, timeout: configuration.commandTimeout)
    }

    // MARK: Scripts

    /// Runs a Lua script by its SHA1. If the server has forgotten it (`NOSCRIPT`, after a restart
    /// or `SCRIPT FLUSH`), loads it and runs it again. An error raised by the script throws.
    @discardableResult
    public func run(_ script: RedisScript, keys: [RedisArgument], arguments: [RedisArgument]) async throws(RedisError) -> RedisReply {
        let replies = try await runPipelined([script.invocation(keys: keys, arguments: arguments)])
        guard let reply = replies.first else { throw .unexpectedReply("no reply to EVALSHA") }
        return try reply.unwrapped()
    }

    /// Runs many script invocations in one round trip, reloading forgotten scripts once.
    /// A command that answered `NOSCRIPT` never ran, so sending it again after loading is safe; it
    /// then runs after the others (the loads and the calls sent again go out together, in that
    /// order, on one connection). Pipeline only calls that do not depend on each other's order.
    public func runPipelined(_ invocations: [RedisScript.Invocation]) async throws(RedisError) -> [RedisReply] {
        var replies = try await pipeline(invocations.map(\.command))
        let missing = replies.indices.filter { replies[$0].isNoScript }
        guard !missing.isEmpty else { return replies }
        var toLoad: [String: RedisScript] = [:]
        for index in missing { toLoad[invocations[index].script.sha1] = invocations[index].script }
        let loads = toLoad.values.map { RedisCommand("SCRIPT", "LOAD", .string($0.source)) }
        let answered = try await pipeline(loads + missing.map { invocations[$0].command })
        guard answered.count == loads.count + missing.count else {
            throw .unexpectedReply("\(answered.count) replies to \(loads.count + missing.count) commands")
        }
        for load in answered.prefix(loads.count) { try load.unwrapped() }
        for (offset, index) in missing.enumerated() { replies[index] = answered[loads.count + offset] }
        return replies
    }

    // MARK: Connections

    /// A connection of its own, for blocking commands (BLPOP, BLMOVE) that would otherwise
    /// hold up every caller pipelined behind them. The caller closes it.
    public func dedicatedConnection() async throws(RedisError) -> RedisConnection {
        try await RedisConnection.connect(to: configuration.endpoint, connectTimeout: configuration.connectTimeout)
    }

    /// Closes every shared connection.
    public func shutdown() {
        for slot in slots { slot.close() }
    }

    /// Whether a shared connection is being opened (for tests).
    var isConnecting: Bool { slots.contains { $0.isConnecting } }

    /// One of the shared connections (the next in turn), opened again if it has closed.
    private func sharedConnection() async throws(RedisError) -> RedisConnection {
        let index = next.add(1, ordering: .relaxed).oldValue % slots.count
        return try await slots[index].connection(configuration)
    }
}

/// One shared connection, opened on first use and opened again after it closes.
/// Callers that arrive while it is being opened wait for the same attempt. A connection whose
/// attempt is no longer the slot's when it opens (the client shut down meanwhile) is closed,
/// never left open with nobody to close it.
final class ConnectionSlot: Sendable {
    private enum State {
        case idle
        case connecting(EventLoopFuture<RedisConnection>)
        case connected(RedisConnection)
    }

    private let state = NIOLockedValueBox<State>(.idle)

    /// Whether an attempt to open the connection is under way (for tests).
    var isConnecting: Bool {
        state.withLockedValue { state in
            if case .connecting = state { return true }
            return false
        }
    }

    func connection(_ configuration: RedisClient.Configuration) async throws(RedisError) -> RedisConnection {
        // The common case, without a future: awaiting even a completed one hops to its event loop.
        let open = state.withLockedValue { state -> RedisConnection? in
            if case .connected(let connection) = state, connection.isActive { return connection }
            return nil
        }
        if let open { return open }
        let future: EventLoopFuture<RedisConnection> = state.withLockedValue { state in
            switch state {
            case .connected(let connection) where connection.isActive:
                return MultiThreadedEventLoopGroup.singleton.any().makeSucceededFuture(connection)
            case .connecting(let future):
                return future
            case .idle, .connected:
                let promise = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: RedisConnection.self)
                promise.completeWithTask {
                    try await RedisConnection.connect(to: configuration.endpoint,
                                                      connectTimeout: configuration.connectTimeout)
                }
                state = .connecting(promise.futureResult)
                return promise.futureResult
            }
        }
        let closed = RedisError.connectionClosed(address: configuration.endpoint.address)
        do {
            let connection = try await future.get()
            // Every caller of this attempt gets here; the first stores the connection. Only this
            // attempt's own state is replaced: a caller that resumes late must not overwrite a
            // newer attempt (whose connection would then be open with nobody holding it).
            let kept = state.withLockedValue { state -> Bool in
                switch state {
                case .connecting(let current) where current === future:
                    state = .connected(connection)
                    return true
                case .connected(let current):
                    return current === connection
                case .idle, .connecting:
                    return false
                }
            }
            guard kept else {
                // The slot moved on from this attempt: `close()` ran while it was connecting (the
                // connection would be open with nobody to close it), or its connection was stored,
                // died and was replaced (closing it again is harmless).
                connection.close()
                throw closed
            }
            return connection
        } catch {
            state.withLockedValue { state in
                if case .connecting(let current) = state, current === future { state = .idle }
            }
            throw (error as? RedisError) ?? closed
        }
    }

    func close() {
        state.withLockedValue { state in
            if case .connected(let connection) = state { connection.close() }
            state = .idle
        }
    }
}

extension RedisReply {
    /// Redis's `NOSCRIPT` error: it has forgotten the script (a restart, `SCRIPT FLUSH`); the
    /// call did not run, so sending it again after `SCRIPT LOAD` is safe.
    public var isNoScript: Bool {
        if case .error(let message) = self { return message.hasPrefix("NOSCRIPT") }
        return false
    }
}
