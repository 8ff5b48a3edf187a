import Logging
import NIOCore
import Queue

/// What every connection's fast path shares: the webhook rules (with one enqueuer per event
/// loop), each source's counters and the request log.
final class WebhookFastLane: Sendable {
    let routes: WebhookRoutes
    /// The request log; nil when request lines are off.
    let requestLog: RequestLog?
    /// Per source, in `WebhookSource.allCases` order.
    private let counters: [IngressMetrics.WebhookAnswerCounters]

    init(routes: WebhookRoutes, metrics: IngressMetrics, requestLog: RequestLog?) {
        self.routes = routes
        self.requestLog = requestLog
        self.counters = WebhookSource.allCases.map {
            metrics.webhookAnswerCounters(source: $0.rawValue, queue: WebhookSource.queue, kind: $0.jobKind,
                                          route: WebhookFastPath.route)
        }
    }

    func counters(_ source: WebhookSource) -> IngressMetrics.WebhookAnswerCounters {
        counters[source.ordinal]
    }
}

/// Answers well-formed `POST /webhooks/{source}` requests straight from the connection's bytes,
/// on its event loop, ahead of NIO's HTTP decoder: reads the head (`RequestHead`), verifies the
/// body with the router's own rules (`WebhookRoutes.verifiedJob`), stores the job through the
/// loop's `LoopEnqueuer` and writes `202` once Redis has it. No HTTP parts, header dictionaries
/// or tasks are made for it, which is most of what a request otherwise costs.
///
/// Everything else goes to the decoder and the router, which answer it as usual: other routes,
/// `Connection: close`, deliveries this path would refuse (bad signature, malformed event, no
/// secret) or could not store (Redis down or slow, a forgotten script) — those are passed on
/// whole, so the router's answer is the one the sender gets. A head `RequestHead` does not
/// take (chunked bodies, HTTP/1.0, anything unusual) hands the rest of the connection to the
/// decoder for good.
///
/// Order: one request at a time. While a delivery waits for Redis, later pipelined bytes wait
/// here; while the router owes answers (`RouterAnswers` tells when it gives one), requests go
/// to the router too, so answers leave in request order.
final class WebhookFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        /// At a request's first byte, or collecting its head and body.
        case reading
        /// A delivery waits for Redis; bytes that arrive meanwhile are kept.
        case storing
        /// A routed request's body is still arriving: this many bytes go to the decoder as they
        /// come; with `last`, the connection is the decoder's after them (`Connection: close`).
        case passing(remaining: Int, last: Bool)
        /// The rest of the connection belongs to the decoder.
        case handedOver
    }

    private let lane: WebhookFastLane
    private var enqueuer: LoopEnqueuer?
    private var context: ChannelHandlerContext?
    private var state = State.reading
    /// Bytes received and neither answered nor passed on; the current request starts at its reader index.
    private var pending: ByteBuffer?
    private var scanner = RequestHead.Scanner()
    /// The current request's head, once the scanner has read all of it.
    private var head: RequestHead?
    /// Requests passed to the router whose answer has not been written yet.
    private var routerOwes = 0
    private var quiescing = false
    private var heldQuiesce = false
    /// The client shut its sending side while a delivery was on its way to Redis: passed on once
    /// it is answered, or the router's side would close the connection before the answer.
    private var heldInputClosed = false
    private var heldRead = false
    /// Bytes passed on since the last `channelReadComplete`: the decoder acts on them only when
    /// one follows, so bytes passed on outside a read need one of their own.
    private var unannounced = false

    /// While a delivery waits for Redis, reading from the socket stops once this much is kept.
    private static let maxKept = 64 * 1024
    static let route = "/webhooks/{source}"

    init(lane: WebhookFastLane) {
        self.lane = lane
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        enqueuer = lane.routes.enqueuers.onCurrentLoop()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        switch state {
        case .handedOver:
            context.fireChannelRead(data)
            return
        case .reading, .storing, .passing:
            if pending == nil || pending?.readableBytes == 0 {
                pending = bytes
            } else {
                pending?.writeBuffer(&bytes)
            }
        }
        process(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        unannounced = false
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending = nil
        context.fireChannelInactive()
    }

    /// Takes, routes or waits, request by request, until it must wait for bytes, Redis or the router.
    private func process(context: ChannelHandlerContext) {
        while var bytes = pending, bytes.readableBytes > 0 {
            switch state {
            case .storing, .handedOver:
                return
            case .passing(let remaining, let last):
                let count = min(remaining, bytes.readableBytes)
                pass(bytes.readSlice(length: count)!, context: context)
                pending = bytes
                if count < remaining {
                    state = .passing(remaining: remaining - count, last: last)
                } else if last {
                    handOver(context: context)
                } else {
                    state = .reading
                }
            case .reading:
                if head == nil {
                    switch bytes.withUnsafeReadableBytes({ scanner.scan($0) }) {
                    case .incomplete:
                        return
                    case .unsupported:
                        handOver(context: context)
                        return
                    case .complete(let complete):
                        head = complete
                    }
                }
                if let head, !take(head, context: context) { return }
            }
        }
    }

    /// A complete head: stores the delivery, routes the request, or waits for the body.
    /// Returns false when it must wait.
    private func take(_ head: RequestHead, context: ChannelHandlerContext) -> Bool {
        guard var bytes = pending else { return false }
        let total = head.length + head.bodyLength
        if let source = head.webhook, !head.closes, !head.unusualField, !quiescing, routerOwes == 0,
           head.bodyLength <= IngressConfiguration.maxBodyBytes, let enqueuer, enqueuer.ready() {
            guard bytes.readableBytes >= total else { return false }   // the body is still arriving
            let request = bytes.readSlice(length: total)!
            pending = bytes
            nextRequest()
            store(request, head: head, source: source, enqueuer: enqueuer, context: context)
            return true
        }
        // The router's: passed on as it arrives, counted until it answers. After a request that
        // closes the connection nothing is ours (the decoder refuses anything that follows it).
        routerOwes += 1
        nextRequest()
        state = .passing(remaining: total, last: head.closes)
        return true
    }

    private func nextRequest() {
        scanner = RequestHead.Scanner()
        head = nil
    }

    private func store(_ request: ByteBuffer, head: RequestHead, source: WebhookSource, enqueuer: LoopEnqueuer,
                       context: ChannelHandlerContext) {
        let start = ContinuousClock.now
        let fields = request.getSlice(at: request.readerIndex, length: head.length)!
        let signature = head.signature.flatMap { fields.getString(at: fields.readerIndex + $0.lowerBound, length: $0.count) }
        let trace = Trace(traceparent: head.traceparent.flatMap { fields.getString(at: fields.readerIndex + $0.lowerBound, length: $0.count) })
        let body = request.getSlice(at: request.readerIndex + head.length, length: head.bodyLength)!
        guard let (secret, attempts) = try? lane.routes.configured(source),
              let job = try? lane.routes.verifiedJob(source, secret: secret, maxAttempts: attempts, signature: signature,
                                                     body: body, trace: trace.traceparent)
        else {
            route(request, context: context)
            return
        }
        state = .storing
        enqueuer.enqueue(job) { result in
            self.state = .reading
            guard context.channel.isActive else { return }   // closed meanwhile: nothing to answer
            switch result {
            case .success(let receipt):
                self.answer(receipt, source: source, trace: trace, start: start, context: context)
            case .failure:
                // Not stored, or not known to be: the router tries again and answers (503 if
                // Redis stays away). A job that was stored after all is found by its id.
                self.route(request, context: context)
            }
            self.resume(context: context)
        }
    }

    /// After a delivery was answered or routed: lets a held shutdown through (taking nothing
    /// more), or goes on with the bytes that waited; then lets held reads go.
    private func resume(context: ChannelHandlerContext) {
        if heldQuiesce {
            heldQuiesce = false
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        } else {
            process(context: context)
        }
        if unannounced { channelReadComplete(context: context) }
        if heldInputClosed, !isStoring {
            // Every request the client sent before it shut its side is answered or passed on.
            heldInputClosed = false
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        if heldRead {
            heldRead = false
            context.read()
        }
    }

    /// Passes a whole request the fast path will not answer to the router.
    private func route(_ request: ByteBuffer, context: ChannelHandlerContext) {
        routerOwes += 1
        pass(request, context: context)
    }

    private func pass(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        unannounced = true
        context.fireChannelRead(wrapInboundOut(bytes))
    }

    /// From here on the decoder reads the connection, starting with the bytes kept.
    private func handOver(context: ChannelHandlerContext) {
        state = .handedOver
        if let bytes = pending, bytes.readableBytes > 0 { pass(bytes, context: context) }
        pending = nil
    }

    /// The router wrote an answer (`RouterAnswers`); once it owes none, the fast path may take
    /// requests again.
    func routerAnswered() {
        if case .handedOver = state { return }   // the router answers everything now
        routerOwes -= 1
        guard routerOwes == 0, let context, case .reading = state else { return }
        process(context: context)
        if unannounced { channelReadComplete(context: context) }
    }

    private func answer(_ receipt: JobClient.Receipt, source: WebhookSource, trace: Trace,
                        start: ContinuousClock.Instant, context: ChannelHandlerContext) {
        let accepted = Accepted(jobID: receipt.id, duplicate: !receipt.created)
        context.writeAndFlush(wrapOutboundOut(accepted.http1Response(allocator: context.channel.allocator)), promise: nil)
        let elapsed = ContinuousClock.now - start
        lane.counters(source).count(created: receipt.created, elapsed: elapsed)
        lane.requestLog?.record(RequestLogLine(method: "POST", path: source.path, route: Self.route, status: 202,
                                               elapsed: elapsed, traceID: trace.traceID, jobID: receipt.id))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A graceful shutdown waits for a delivery whose job is on its way to Redis: the router's
        // side closes idle connections at once, and it does not know about this one. A request
        // still arriving is not waited for (nothing was accepted; the sender delivers it again).
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            if case .storing = state {
                heldQuiesce = true
                return
            }
        }
        // A client that shuts its sending side after its request (`shutdown(SHUT_WR)`) still reads
        // the answer: the router's side would end the connection at this event, before Redis answers.
        if case ChannelEvent.inputClosed = event, isStoring {
            heldInputClosed = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private var isStoring: Bool {
        if case .storing = state { return true }
        return false
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if case .storing = state, let pending, pending.readableBytes >= Self.maxKept {
            heldRead = true
            return
        }
        context.read()
    }
}

extension WebhookSource {
    /// The source's position in `allCases`.
    var ordinal: Int {
        switch self {
        case .stripe: return 0
        case .medusa: return 1
        case .payload: return 2
        case .fleetbase: return 3
        case .erpnext: return 4
        }
    }

    /// The request path that reaches this source (for the request log).
    var path: String {
        switch self {
        case .stripe: return "/webhooks/stripe"
        case .medusa: return "/webhooks/medusa"
        case .payload: return "/webhooks/payload"
        case .fleetbase: return "/webhooks/fleetbase"
        case .erpnext: return "/webhooks/erpnext"
        }
    }
}

extension Accepted {
    /// The whole HTTP/1.1 response, as the router would write it.
    func http1Response(allocator: ByteBufferAllocator) -> ByteBuffer {
        let body = body()
        var out = allocator.buffer(capacity: 160 + 2 * jobID.utf8.count)
        out.writeStaticString("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nCityOS-Job-Id: ")
        out.writeString(jobID)
        out.writeStaticString("\r\nContent-Length: ")
        out.writeString(String(body.count))
        out.writeStaticString("\r\nDate: ")
        out.writeString(HTTPDate.now())
        out.writeStaticString("\r\n\r\n")
        out.writeBytes(body)
        return out
    }
}
