import Logging
import NIOCore
import NIOHTTP1

/// Answers a request that is not valid HTTP/1.1 with the API's JSON error, then lets the
/// connection close: `431 headers_too_large` when its header fields overflow the decoder's limit,
/// `400 bad_request` naming what the decoder found otherwise. Hummingbird's own answer to a parse
/// error is an empty 400, which it still writes (it sees the error too); once this answer is out,
/// that and anything else written on the connection is dropped. Each such answer is logged (no
/// byte of the request is: only what the decoder found).
///
/// Like NIO's `HTTPServerProtocolErrorHandler`, which stands at the same place in NIO's own
/// pipeline, it answers only when no answer has started, so that it never cuts into one; NIO's
/// pipelining handler, nearer the socket, holds the error back until the answers to the requests
/// before it are out.
final class ProtocolErrorAnswer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// An answer's head is written and its end not yet.
    private var answering = false
    /// This handler's error answer is out: the connection says nothing more.
    private var closed = false
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parseError = error as? HTTPParserError, !answering, !closed {
            closed = true
            let answer = Self.answer(to: parseError)
            let body = answer.jsonBody
            let headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "\(body.count)"),
                                       ("Connection", "close")])
            let status = HTTPResponseStatus(statusCode: answer.status.code, reasonPhrase: answer.status.reasonPhrase)
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                          promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            logger.info("malformed request refused", metadata: [
                "status": "\(answer.status.code)", "code": "\(answer.code)", "reason": "\(parseError.debugDescription)"])
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closed else {
            promise?.succeed(())   // an answer after ours (Hummingbird's empty 400): the client has its answer
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head) where (100..<200).contains(head.status.code) && head.status.code != 101: break   // 100 Continue
        case .head: answering = true
        case .body: break
        case .end: answering = false
        }
        context.write(data, promise: promise)
    }

    static func answer(to error: HTTPParserError) -> APIError {
        if case .headerOverflow = error {
            return APIError(.init(code: 431, reasonPhrase: "Request Header Fields Too Large"), code: "headers_too_large",
                            message: "the request's header fields are too large; the connection is closed")
        }
        return APIError(.badRequest, code: "bad_request",
                        message: "the request is not valid HTTP/1.1 (\(error.debugDescription)); the connection is closed")
    }
}
