import NIOCore
import NIOPosix

/// One connection to Redis (TCP, or a Unix socket), owned by a SwiftNIO channel. Any number of
/// tasks may call `send` at once: their commands are written in call order and pipelined on the
/// socket, and no caller ever blocks a thread while waiting.
public final class RedisConnection: Sendable {
    public let address: String
    let channel: Channel
    private let broken: BrokenFlag

    private init(address: String, channel: Channel, broken: BrokenFlag) {
        self.address = address
        self.channel = channel
        self.broken = broken
    }

    /// True while the socket is open and nothing has failed on it.
    public var isActive: Bool { channel.isActive && !broken.isSet }

    /// Opens a connection, authenticates and selects the database of `endpoint`.
    public static func connect(
        to endpoint: RedisEndpoint,
        connectTimeout: TimeAmount = .seconds(2),
        on group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(RedisError) -> RedisConnection {
        let address = endpoint.address
        let broken = BrokenFlag()
        var bootstrap = ClientBootstrap(group: group).connectTimeout(connectTimeout)
        if endpoint.socketPath == nil { bootstrap = bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1) }
        bootstrap = bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let parser = ReplyParser() else {
                        throw RedisError.protocolError("hiredis could not allocate a reply reader")
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        RedisChannelHandler(address: address, parser: parser, broken: broken))
                }
            }
        let channel: Channel
        do {
            if let path = endpoint.socketPath {
                channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            } else {
                channel = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
            }
        } catch let error as ChannelError where error == .connectTimeout(connectTimeout) {
            throw .timeout(address: address, seconds: Double(connectTimeout.nanoseconds) / 1e9)
        } catch {
            throw .connectionRefused(address: address, reason: "\(error)")
        }
        let connection = RedisConnection(address: address, channel: channel, broken: broken)
        // AUTH and SELECT in one round trip, within the connect timeout too: a server that accepts
        // connections and then answers nothing must not hold a caller for more than that.
        var setup: [RedisCommand] = []
        if let auth = endpoint.authCommand { setup.append(auth) }
        if endpoint.database != 0 { setup.append(RedisCommand("SELECT", .int(endpoint.database))) }
        do {
            if !setup.isEmpty {
                for reply in try await connection.send(setup, timeout: connectTimeout) { try reply.unwrapped() }
            }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// Sends one command and returns its reply (an error reply comes back as `.error`).
    public func send(_ command: RedisCommand, timeout: TimeAmount = .seconds(5)) async throws(RedisError) -> RedisReply {
        let replies = try await send([command], timeout: timeout)
        guard let first = replies.first else { throw .unexpectedReply("no reply") }
        return first
    }

    /// Sends many commands in one write and returns their replies in order.
    /// Error replies are values in the result; only connection failures throw.
    public func send(_ commands: [RedisCommand], timeout: TimeAmount = .seconds(5)) async throws(RedisError) -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        do {
            return try await write(commands, timeout: timeout).get()
        } catch let error as RedisError {
            throw error
        } catch {
            throw .connectionClosed(address: address)
        }
    }

    /// Sends many commands in one write without suspending the caller: the future completes on the
    /// connection's event loop with their replies in order, or fails with a `RedisError` when the
    /// connection does. For callers that already run on the event loop (batching on a hot path);
    /// everyone else uses `send`.
    public func write(_ commands: [RedisCommand], timeout: TimeAmount = .seconds(5)) -> EventLoopFuture<[RedisReply]> {
        guard !commands.isEmpty else { return channel.eventLoop.makeSucceededFuture([]) }
        var buffer = channel.allocator.buffer(capacity: 64 * commands.count)
        for command in commands { command.encode(into: &buffer) }
        let promise = channel.eventLoop.makePromise(of: [RedisReply].self)
        let request = RedisRequest(buffer: buffer, count: commands.count, timeout: timeout, promise: promise)
        // If the write itself fails (the channel closed under us), so does the request: no caller
        // waits for a reply that can never come. A second completion of a promise is ignored.
        let written = channel.eventLoop.makePromise(of: Void.self)
        let address = self.address
        written.futureResult.whenFailure { _ in promise.fail(RedisError.connectionClosed(address: address)) }
        channel.writeAndFlush(request, promise: written)
        return promise.futureResult
    }

    /// Closes the socket; anything still pending fails with `connectionClosed`.
    public func close() {
        channel.close(promise: nil)
    }
}
