import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import Queue
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What every connection's fast path shares: the webhook rules (with one enqueuer per event
/// loop), the metrics and the request log.
final class WebhookFastLane: Sendable {
    let routes: WebhookRoutes
    let metrics: IngressMetrics
    /// The request log; nil when request lines are off.
    let requestLog: Logger?

    init(routes: WebhookRoutes, metrics: IngressMetrics, requestLog: Logger?) {
        self.routes = routes
        self.metrics = metrics
        self.requestLog = requestLog
    }

    func handler() -> WebhookFastPath { WebhookFastPath(lane: self) }
}

/// Answers a well-formed `POST /webhooks/{source}` on the connection's event loop: collects the
/// body, verifies it with the same rules as the router (`WebhookRoutes.verifiedJob`), stores the
/// job through the loop's `LoopEnqueuer` and writes `202` once Redis has it. The request never
/// enters Swift concurrency, which is where most of a routed request's cost goes.
///
/// Anything else goes to the router unchanged: other routes, `Connection: close`, a body
/// without `Content-Length`, and every request this path would refuse (a bad signature, a
/// malformed event, a missing secret) or could not store (Redis down or slow, a script Redis
/// forgot). The router then answers it with its usual status and JSON error, so the two paths
/// never disagree about an answer; at worst a request is verified twice.
///
/// Order: responses leave in request order. While a request waits for Redis, later pipelined
/// parts wait here; while the router owes responses, new requests go to the router too.
final class WebhookFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        case idle
        /// A fast request's head and body so far.
        case collecting(HTTPRequest, WebhookSource, ByteBuffer, ContinuousClock.Instant)
        /// A fast request waits for Redis; parts that arrive meanwhile are queued.
        case storing
        /// The current request belongs to the router.
        case forwarding
    }

    private let lane: WebhookFastLane
    private var enqueuer: LoopEnqueuer?
    private var state = State.idle
    /// Requests handed to the router whose response has not yet passed on its way out.
    private var routerOwes = 0
    private var queued = CircularBuffer<HTTPRequestPart>()
    private var heldQuiesce = false
    private var heldRead = false
    /// Parts handed to the router since the last `channelReadComplete`: the router's side reads
    /// them only when one follows, so parts handed over outside a read need one of their own.
    private var unannounced = false

    /// Pipelined parts queued beyond this stop reading from the socket until they are served.
    private static let maxQueued = 64
    static let route = "/webhooks/{source}"

    init(lane: WebhookFastLane) {
        self.lane = lane
    }

    func handlerAdded(context: ChannelHandlerContext) {
        enqueuer = lane.routes.enqueuers.onCurrentLoop()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .storing = state {
            queued.append(part)
            return
        }
        handle(part, context: context)
    }

    private func handle(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.idle, .head(let head)):
            if routerOwes == 0, let source = eligible(head) {
                state = .collecting(head, source, context.channel.allocator.buffer(capacity: 0), .now)
            } else {
                forward(part, context: context)
            }
        case (.collecting(let head, let source, var body, let start), .body(var chunk)):
            state = .storing   // drop the state's reference so `body` grows in place
            if body.readableBytes + chunk.readableBytes > IngressConfiguration.maxBodyBytes {
                // Longer than Content-Length said: the router answers it.
                state = .idle
                forward(.head(head), context: context)
                forward(.body(body), context: context)
                forward(.body(chunk), context: context)
                return
            }
            if body.readableBytes == 0 { body = chunk } else { body.writeBuffer(&chunk) }
            state = .collecting(head, source, body, start)
        case (.collecting(let head, let source, let body, let start), .end(let trailers)):
            store(head: head, source: source, body: body, trailers: trailers, start: start, context: context)
        case (.forwarding, _), (.idle, _), (.collecting, _), (.storing, _):
            // The rest of a routed request, or parts out of order (the router reports those).
            if case .collecting(let head, _, let body, _) = state {
                state = .idle
                forward(.head(head), context: context)
                if body.readableBytes > 0 { forward(.body(body), context: context) }
            }
            forward(part, context: context)
        }
    }

    /// Hands a part to the router, counting each request it will answer.
    private func forward(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head:
            routerOwes += 1
            state = .forwarding
        case .end:
            state = .idle
        case .body:
            break
        }
        unannounced = true
        context.fireChannelRead(wrapInboundOut(part))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        unannounced = false
        context.fireChannelReadComplete()
    }

    private func eligible(_ head: HTTPRequest) -> WebhookSource? {
        guard head.method == .post, let enqueuer, let path = head.path, path.hasPrefix("/webhooks/") else { return nil }
        let name = path.dropFirst("/webhooks/".count).prefix { $0 != "?" }
        guard let source = WebhookSource(rawValue: String(name)),
              let length = head.headerFields[.contentLength].flatMap(Int.init),
              length <= IngressConfiguration.maxBodyBytes,
              head.headerFields[.transferEncoding] == nil,
              head.headerFields[.expect] == nil,
              head.headerFields[.connection]?.lowercased().contains("close") != true,
              lane.routes.secrets[source] != nil, lane.routes.maxAttempts[source] != nil,
              enqueuer.ready()
        else { return nil }
        return source
    }

    private func store(head: HTTPRequest, source: WebhookSource, body: ByteBuffer, trailers: HTTPFields?,
                       start: ContinuousClock.Instant, context: ChannelHandlerContext) {
        let trace = Trace(headers: head.headerFields)
        guard let enqueuer, let (secret, attempts) = try? lane.routes.configured(source),
              let job = try? lane.routes.verifiedJob(source, secret: secret, maxAttempts: attempts,
                                                     headers: head.headerFields, body: body, trace: trace.traceparent)
        else {
            handOver(head: head, body: body, trailers: trailers, context: context)
            return
        }
        state = .storing
        enqueuer.enqueue(job) { result in
            self.state = .idle
            switch result {
            case .success(let receipt):
                self.answer(receipt, source: source, head: head, trace: trace, start: start, context: context)
            case .failure:
                // Not stored, or not known to be: the router tries again and answers (503 if
                // Redis stays away). A job that was stored after all is found by its id.
                self.handOver(head: head, body: body, trailers: trailers, context: context)
            }
            self.drain(context: context)
            if self.unannounced { self.channelReadComplete(context: context) }
        }
    }

    private func handOver(head: HTTPRequest, body: ByteBuffer, trailers: HTTPFields?, context: ChannelHandlerContext) {
        state = .idle
        forward(.head(head), context: context)
        if body.readableBytes > 0 { forward(.body(body), context: context) }
        forward(.end(trailers), context: context)
    }

    private func answer(_ receipt: JobClient.Receipt, source: WebhookSource, head: HTTPRequest, trace: Trace,
                        start: ContinuousClock.Instant, context: ChannelHandlerContext) {
        lane.routes.count(receipt, source: source)
        lane.metrics.countWebhookPath(source: source.rawValue, path: "event_loop")
        let accepted = Accepted(jobID: receipt.id, duplicate: !receipt.created)
        let bytes = accepted.body()
        var fields = accepted.headers()
        fields[.contentLength] = String(bytes.count)
        fields[.date] = HTTPDate.now()
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .accepted, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: bytes))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        RequestLogMiddleware.record(method: "POST", path: head.path ?? "", route: Self.route, status: 202,
                                    elapsed: .now - start, traceID: trace.traceID, jobID: receipt.id,
                                    metrics: lane.metrics, logger: lane.requestLog)
    }

    /// After a fast request: serves the parts that queued behind it, then lets held events through.
    private func drain(context: ChannelHandlerContext) {
        while let part = queued.popFirst() {
            handle(part, context: context)
            if case .storing = state { return }
        }
        if heldQuiesce {
            heldQuiesce = false
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        if heldRead {
            heldRead = false
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A graceful shutdown waits for a request whose job is on its way to Redis: the router's
        // side closes idle connections at once, and it does not know about this one. A request
        // still arriving is not waited for (nothing was accepted; the sender delivers it again).
        if event is ChannelShouldQuiesceEvent, case .storing = state {
            heldQuiesce = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if queued.count >= Self.maxQueued {
            heldRead = true
            return
        }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), routerOwes > 0 { routerOwes -= 1 }
        context.write(data, promise: promise)
    }
}

/// The `Date` header's value (RFC 9110 IMF-fixdate), formatted once per second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((-1, ""))
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func now() -> String {
        var seconds = time(nil)
        if let cached = cache.withLock({ $0.second == seconds ? $0.text : nil }) { return cached }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let text = "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
        cache.withLock { $0 = (seconds, text) }
        return text
    }
}
