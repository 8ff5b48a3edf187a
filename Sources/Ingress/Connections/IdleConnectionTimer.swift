import NIOCore

/// Closes a connection on which nothing has been read or written for `timeout`
/// (`http.idle_timeout_seconds`): an idle keep-alive connection, or a peer that connected and
/// sent nothing, holds a socket and its buffers that long and no longer.
///
/// It is the first handler after the socket, so it sees every byte, those of the deliveries the
/// webhook fast path answers included. (Hummingbird's own idle timeout counts only what its
/// decoder parses: it would close connections busy with fast-path deliveries.) Every answer the
/// ingress gives is bounded by far shorter timeouts (Redis's command timeout, readiness checks
/// of 2 s), so a request in progress is not cut short by it. A peer that trickles bytes keeps
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
            if NIODeadline.now() >= due {
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
