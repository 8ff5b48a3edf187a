import NIOCore
import NIOHTTP1

/// Answers `Expect: 100-continue` with `100 Continue` as soon as the request's head is read (RFC
/// 9110, 10.1.1), so that a client that waits for it before sending its body (curl for large
/// bodies, .NET's HttpClient by default) sends it at once instead of after its own timeout
/// (curl's: 1 s per request). Hummingbird does not. The final answer follows as usual, whatever
/// it is. An HTTP/1.0 request's expectation is ignored, as the RFC asks. The fast path never sees
/// such a request: its head reader hands the connection to the router.
final class ExpectContinue: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data), Self.expectsContinue(head) {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }

    static func expectsContinue(_ head: HTTPRequestHead) -> Bool {
        guard head.version == .http1_1 else { return false }
        return head.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
    }
}
