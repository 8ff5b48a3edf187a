import Logging
import NIOCore
import NIOHTTP1

/// Gives a request that is not valid HTTP/1.1 the API's JSON error: `431 headers_too_large` when
/// its header fields overflow the decoder's limit, `400 bad_request` naming what the decoder found
/// otherwise, and the connection closes. Each such answer is logged (what the decoder found, no
/// byte of the request).
///
/// Hummingbird answers a parse error itself, in its turn (after the answers to the requests before
/// it on the connection, which it serves in order), with an empty `400` and `Connection: close`.
/// This handler notes the error as it passes and, when that empty 400 is written, writes the JSON
/// answer in its place, so the order stays Hummingbird's.
final class ProtocolErrorAnswer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The decoder's error, until Hummingbird's answer to it is written.
    private var parseError: HTTPParserError?
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parseError = error as? HTTPParserError, self.parseError == nil { self.parseError = parseError }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let parseError, case .head(let head) = unwrapOutboundIn(data), Self.isHummingbirdsParseErrorAnswer(head) else {
            return context.write(data, promise: promise)
        }
        self.parseError = nil
        let answer = Self.answer(to: parseError)
        let body = answer.jsonBody
        let headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "\(body.count)"),
                                   ("Connection", "close")])
        let status = HTTPResponseStatus(statusCode: answer.status.code, reasonPhrase: answer.status.reasonPhrase)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: promise)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        logger.info("malformed request refused", metadata: [
            "status": "\(answer.status.code)", "code": "\(answer.code)", "reason": "\(parseError.debugDescription)"])
    }

    /// Hummingbird's answer to a parse error: 400, no body, `Connection: close` (every answer of
    /// the router's own has a JSON body).
    static func isHummingbirdsParseErrorAnswer(_ head: HTTPResponseHead) -> Bool {
        head.status == .badRequest && head.headers["content-length"] == ["0"]
            && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
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
