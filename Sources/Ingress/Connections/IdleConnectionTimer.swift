import NIOCore
import NIOHTTPTypes

/// Closes a connection on which nothing has been read or written for `timeout`
/// (`http.idle_timeout_seconds`): an idle keep-alive connection, or a peer that connected and
/// sent nothing, holds a socket and its buffers that long and no longer.
///
/// It is the first handler after the socket, so it sees every byte, those of the deliveries the
/// webhook fast path answers included. (Hummingbird's own idle timeout counts only what its
/// decoder parses: it would close connections busy with fast-path deliveries.) A request the
/// router is still working on keeps its connection however long it takes (a retry-all of ten
/// thousand dead letters, a PostgreSQL read): ``RequestsInProgress`` counts them. A peer that trickles bytes keeps
/// its connection; the fast path's and the decoder's size limits bound what it can make us hold,
/// and a per-request read deadline is left to the TLS-terminating proxy in front (README, HTTP).
final class IdleConnectionTimer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    private var lastActivity = NIODeadline.now()
    private var check: Scheduled<Void>?
    /// Requests the router has read whole, less the answers it has written (``RequestsInProgress``):
    /// above zero, an answer is owed.
    private var inProgress = 0

    /// The router read a whole request (on the channel's event loop).
    func requestStarted() { inProgress += 1 }

    /// The router wrote the end of an answer; the idle time counts from now. Signed: an answer
    /// written before its request's end was read (a 401 or 413 sent before the body came) counts
    /// down first, and the end read later brings the count back, not above, zero.
    func requestAnswered() {
        inProgress -= 1
        lastActivity = .now()
    }

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, at: lastActivity + timeout) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelActive(context: ChannelHandlerContext) {
        lastActivity = .now()
        arm(context, at: lastActivity + timeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        context.fireChannelRead(data)
    }

    // Passed on unopened: below the HTTP encoder the parts are `IOData`, and this handler only
    // notes that something was written.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = .now()
        context.write(data, promise: promise)
    }

    /// One check is scheduled at a time: when it finds activity since, it schedules the next for
    /// `timeout` after that activity, so a busy connection costs a timer every `timeout`, not
    /// one per request.
    private func arm(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        guard check == nil else { return }
        check = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.check = nil
            let due = self.lastActivity + self.timeout
            if self.inProgress > 0 {
                self.arm(context, at: .now() + self.timeout)   // owed an answer: not idle
            } else if NIODeadline.now() >= due {
                context.close(promise: nil)
            } else {
                self.arm(context, at: due)
            }
        }
    }

    private func disarm() {
        check?.cancel()
        check = nil
    }
}

/// Tells the idle timer which requests the router is working on: from a request's end read to the
/// end of its answer written, the connection is not idle, however long the handler takes. (From
/// its end, not its head: a client that sends a head and then nothing is idle, and is closed.)
final class RequestsInProgress: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timer: IdleConnectionTimer

    init(timer: IdleConnectionTimer) {
        self.timer = timer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { timer.requestStarted() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { timer.requestAnswered() }
        context.write(data, promise: promise)
    }
}
