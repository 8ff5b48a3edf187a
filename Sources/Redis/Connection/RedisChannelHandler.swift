import NIOCore
import Synchronization

/// Set once a connection has failed: callers must not send on it again.
final class BrokenFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// A request on the wire: one or more encoded commands and the promise of their replies.
struct RedisRequest {
    var buffer: ByteBuffer
    var count: Int
    var timeout: TimeAmount
    var promise: EventLoopPromise<[RedisReply]>
}

/// Owns the request queue of one connection. Requests are written in order; each reply
/// completes the oldest waiting request (Redis answers in order). Failure rules, in one place:
/// - an error reply fails nothing: it is delivered as `.error` to its own request;
/// - a missed deadline fails everything pending and closes the connection, because the late
///   replies could no longer be matched to their callers;
/// - a protocol error or a closed channel fails everything pending.
/// Runs on its channel's event loop only.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var count: Int
        var deadline: NIODeadline
        var timeout: TimeAmount
        var promise: EventLoopPromise<[RedisReply]>
    }

    private let address: String
    private let parser: ReplyParser
    private var pending = CircularBuffer<Pending>(initialCapacity: 64)
    /// The replies gathered so far for the oldest pending request (replies arrive in order). Kept
    /// out of `pending`: appending through CircularBuffer's subscript copied the whole array per
    /// reply, which made a pipeline of n commands cost n² (a status read with 2,000 tenants
    /// waiting spent most of its 100 ms there).
    private var headReplies: [RedisReply] = []
    private var flushScheduled = false
    private var deadlineTimer: Scheduled<Void>?
    private var failure: RedisError?

    private let broken: BrokenFlag

    init(address: String, parser: ReplyParser, broken: BrokenFlag) {
        self.address = address
        self.parser = parser
        self.broken = broken
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let failure {
            request.promise.fail(failure)
            promise?.fail(failure)
            return
        }
        pending.append(Pending(count: request.count, deadline: .now() + request.timeout, timeout: request.timeout,
                               promise: request.promise))
        if pending.count == 1 { armDeadline(context: context) }
        context.write(wrapOutboundOut(request.buffer), promise: promise)
    }

    /// Coalesces the flushes of every caller that wrote during this event-loop tick into one
    /// syscall: that is what turns many concurrent callers into one pipelined round trip.
    func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            context.flush()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            try buffer.withUnsafeReadableBytes { bytes in try parser.feed(bytes) }
            while let reply = try parser.next() {
                deliver(reply, context: context)
            }
        } catch let error as RedisError {
            failAll(error, context: context)
        } catch {
            failAll(.protocolError("\(error)"), context: context)
        }
    }

    private func deliver(_ reply: RedisReply, context: ChannelHandlerContext) {
        guard !pending.isEmpty else {
            failAll(.protocolError("a reply arrived that no command was waiting for"), context: context)
            return
        }
        let count = pending[pending.startIndex].count
        if headReplies.isEmpty { headReplies.reserveCapacity(count) }
        headReplies.append(reply)
        if headReplies.count >= count {
            let done = pending.removeFirst()
            let replies = headReplies
            headReplies = []
            done.promise.succeed(replies)
            if pending.isEmpty {
                deadlineTimer?.cancel()
                deadlineTimer = nil
            }
        }
    }

    private func armDeadline(context: ChannelHandlerContext) {
        guard deadlineTimer == nil, let first = pending.first else { return }
        let loop = context.eventLoop.assumeIsolated()
        deadlineTimer = loop.scheduleTask(deadline: first.deadline) {
            self.deadlineTimer = nil
            guard let head = self.pending.first else { return }
            if head.deadline <= .now() {
                let seconds = Double(head.timeout.nanoseconds) / 1e9
                self.failAll(.timeout(address: self.address, seconds: seconds), context: context)
            } else {
                self.armDeadline(context: context)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionClosed(address: address), context: context, close: false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failAll(.connectionClosed(address: address), context: context)
    }

    private func failAll(_ error: RedisError, context: ChannelHandlerContext, close: Bool = true) {
        if failure == nil { failure = error }
        broken.set()   // before any caller learns of the failure, so none reuses this connection
        deadlineTimer?.cancel()
        deadlineTimer = nil
        headReplies = []
        while let next = pending.popFirst() {
            next.promise.fail(error)
        }
        if close { context.close(promise: nil) }
    }
}
