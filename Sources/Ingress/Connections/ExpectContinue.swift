import NIOCore
import NIOHTTP1

/// Answers `Expect: 100-continue` with `100 Continue` (RFC 9110, 10.1.1), so that a client that
/// waits for it before sending its body (curl for large bodies, .NET's HttpClient by default)
/// sends it at once instead of after its own timeout (curl's: 1 s per request). Hummingbird does
/// not. The 100 goes out as soon as the request's head is read, or, when answers to requests
/// before it on the connection are still owed, right after the last of them: Hummingbird answers
/// in order, and so must this. A request whose final answer starts first gets none, nor does one
/// whose Content-Length is over the body limit (its 413 comes without the body). An HTTP/1.0
/// request's expectation is ignored, as the RFC asks. The fast path never sees such a request: its
/// head reader hands the connection to the router.
final class ExpectContinue: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// One entry per request read and not yet answered to its end, oldest first: whether it is
    /// still owed a 100.
    private var owed: [Bool] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            owed.append(Self.expectsContinue(head))
            if owed.count == 1 { sendContinueIfOwed(context: context) }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200 && !owed.isEmpty:
            owed[0] = false   // its final answer has started: no 100 any more
            context.write(data, promise: promise)
        case .end:
            context.write(data, promise: promise)
            if !owed.isEmpty { owed.removeFirst() }
            sendContinueIfOwed(context: context)
        default:
            context.write(data, promise: promise)
        }
    }

    private func sendContinueIfOwed(context: ChannelHandlerContext) {
        guard owed.first == true else { return }
        owed[0] = false
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
    }

    static func expectsContinue(_ head: HTTPRequestHead) -> Bool {
        guard head.version == .http1_1 else { return false }
        // A body announced over the limit gets its 413 without being invited: no 100 for it.
        if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > IngressConfiguration.maxBodyBytes {
            return false
        }
        return head.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
    }
}
