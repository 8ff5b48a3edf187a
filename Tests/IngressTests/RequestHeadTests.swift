import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

@testable import Ingress

/// `RequestHead` reads request heads from raw bytes ahead of NIO's HTTP decoder. Whatever it
/// accepts, the decoder must frame the same way (the same head, the same body length, the next
/// request starting at the same byte), or a request could be smuggled between the two.
final class RequestHeadTests: XCTestCase {
    private static let signature = "t=1700000000,v1=" + String(repeating: "ab", count: 32)

    private func webhook(_ extraFields: [String] = [], body: String = #"{"id":"evt_1","type":"x"}"#) -> [UInt8] {
        var head = "POST /webhooks/stripe HTTP/1.1\r\nHost: ingress\r\nContent-Type: application/json\r\n"
        head += "Stripe-Signature: \(Self.signature)\r\n"
        for field in extraFields { head += field + "\r\n" }
        head += "Content-Length: \(body.utf8.count)\r\n\r\n"
        return Array((head + body).utf8)
    }

    private func scan(_ bytes: [UInt8]) -> RequestHead.Scan {
        var scanner = RequestHead.Scanner()
        return bytes.withUnsafeBytes { scanner.scan($0) }
    }

    /// The same bytes fed a few at a time read the same as all at once.
    private func scanInPieces(_ bytes: [UInt8], piece: Int) -> RequestHead.Scan {
        var scanner = RequestHead.Scanner()
        var result = RequestHead.Scan.incomplete
        var upTo = 0
        while upTo < bytes.count {
            upTo = min(bytes.count, upTo + piece)
            result = bytes[..<upTo].withUnsafeBytes { scanner.scan($0) }
            if case .incomplete = result { continue }
            return result
        }
        return result
    }

    func testAWellFormedDeliveryIsReadWithItsSignatureAndBodyLength() throws {
        let bytes = webhook(["traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
        guard case .complete(let head) = scan(bytes) else { return XCTFail("not read: \(scan(bytes))") }
        XCTAssertEqual(head.webhook, .stripe)
        XCTAssertEqual(head.length + head.bodyLength, bytes.count)
        XCTAssertFalse(head.closes)
        XCTAssertFalse(head.unusualField)
        let signature = try XCTUnwrap(head.signature)
        XCTAssertEqual(String(decoding: bytes[signature], as: UTF8.self), Self.signature)
        let trace = try XCTUnwrap(head.traceparent)
        XCTAssertEqual(String(decoding: bytes[trace], as: UTF8.self), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        for piece in [1, 2, 7, 64] { XCTAssertEqual(scanInPieces(bytes, piece: piece), .complete(head), "pieces of \(piece)") }
    }

    func testOtherRequestsAreReadForTheirLengthOnly() {
        guard case .complete(let get) = scan(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) else { return XCTFail() }
        XCTAssertNil(get.webhook)
        XCTAssertEqual(get.bodyLength, 0)
        let other = Array("POST /webhooks/nowhere HTTP/1.1\r\nContent-Length: 3\r\nConnection: keep-alive, close\r\n\r\nabc".utf8)
        guard case .complete(let unknown) = scan(other) else { return XCTFail() }
        XCTAssertNil(unknown.webhook)
        XCTAssertEqual(unknown.bodyLength, 3)
        XCTAssertTrue(unknown.closes)
        guard case .complete(let query) = scan(Array("POST /webhooks/erpnext?x=1 HTTP/1.1\r\ncontent-length: 0\r\n\r\n".utf8)) else { return XCTFail() }
        XCTAssertEqual(query.webhook, .erpnext)
    }

    func testHeadsOutsideTheStrictGrammarAreLeftToTheDecoder() {
        let unsupported: [String] = [
            "POST /webhooks/stripe HTTP/1.0\r\nContent-Length: 0\r\n\r\n",                       // HTTP/1.0
            "POST /webhooks/stripe HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",        // chunked
            "POST /webhooks/stripe HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",   // two lengths
            "POST /webhooks/stripe HTTP/1.1\r\nContent-Length: +1\r\n\r\nx",                        // not digits
            "POST /webhooks/stripe HTTP/1.1\r\nContent-Length: 1 1\r\n\r\nx",
            "POST /webhooks/stripe HTTP/1.1\nContent-Length: 0\n\n",                                // bare LF
            "POST /webhooks/stripe HTTP/1.1\r\nX: a\r\n b\r\n\r\n",                                  // obs-fold
            "POST /webhooks/stripe HTTP/1.1\r\nContent-Length : 0\r\n\r\n",                         // space before colon
            "POST /webhooks/stripe HTTP/1.1\r\nX: a\u{1}b\r\n\r\n",                                 // control character
            "POST /webhooks/stripe HTTP/1.1\r\nX: caf\u{e9}\r\n\r\n",                               // not ASCII
            "POST /webhooks/stripe HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            "GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "POST  /webhooks/stripe HTTP/1.1\r\n\r\n",                                              // two spaces
            "\r\nPOST /webhooks/stripe HTTP/1.1\r\n\r\n",                                           // empty line first
            "\u{16}\u{3}\u{1}\u{2}\u{0}\u{1}",                                                     // a TLS hello, unfinished
        ]
        for text in unsupported {
            XCTAssertEqual(scan(Array(text.utf8)), .unsupported, text.debugDescription)
        }
        XCTAssertEqual(scan(Array("POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\n".utf8)), .incomplete)
        XCTAssertEqual(scan(Array(repeating: UInt8(ascii: "a"), count: RequestHead.maxLength + 1)), .unsupported)
    }

    func testARepeatedSignatureOrTraceparentIsLeftToTheRouter() {
        guard case .complete(let head) = scan(webhook(["stripe-signature: t=1,v1=00"])) else { return XCTFail() }
        XCTAssertTrue(head.unusualField)
    }

    // MARK: Agreement with NIO's decoder

    /// How NIO's decoder frames `request` followed by a second request: the first head's
    /// signature header, its body's length, and whether the second request was found right after.
    private struct Framing: Equatable {
        var signature: String?
        var bodyLength: Int
        var nextFollows: Bool
    }

    /// With `followed` false, only `request` is fed (nothing may follow `Connection: close`).
    private func nioFraming(_ request: [UInt8], followed: Bool = true) -> Framing? {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        guard (try? channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))) != nil else { return nil }
        let next = followed ? Array("GET /next HTTP/1.1\r\nHost: n\r\n\r\n".utf8) : []
        guard (try? channel.writeInbound(ByteBuffer(bytes: request + next))) != nil else { return nil }
        var parts: [HTTPServerRequestPart] = []
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) { parts.append(part) }
        guard case .head(let first)? = parts.first else { return nil }
        var framing = Framing(signature: first.headers["stripe-signature"].first, bodyLength: 0, nextFollows: false)
        var index = 1
        while index < parts.count, case .body(let chunk) = parts[index] {
            framing.bodyLength += chunk.readableBytes
            index += 1
        }
        guard index < parts.count, case .end = parts[index] else { return nil }
        if index + 1 < parts.count, case .head(let second) = parts[index + 1] { framing.nextFollows = second.uri == "/next" }
        return framing
    }

    /// Checks that NIO frames an accepted head the same way; returns false if `RequestHead` did not accept it.
    @discardableResult
    private func assertAgreement(_ headBytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> Bool {
        guard case .complete(let head) = scan(headBytes), head.bodyLength <= 4096 else { return false }
        let request = Array(headBytes.prefix(head.length)) + Array(repeating: UInt8(ascii: "x"), count: head.bodyLength)
        let ours = Framing(signature: head.unusualField ? nil : head.signature.map { String(decoding: request[$0], as: UTF8.self) },
                           bodyLength: head.bodyLength, nextFollows: !head.closes)
        guard var theirs = nioFraming(request, followed: !head.closes) else {
            XCTFail("NIO rejects a head RequestHead accepts: \(String(decoding: request, as: UTF8.self).debugDescription)",
                    file: file, line: line)
            return true
        }
        if head.unusualField || head.webhook == nil { theirs.signature = ours.signature }
        XCTAssertEqual(ours, theirs, String(decoding: request, as: UTF8.self).debugDescription, file: file, line: line)
        return true
    }

    func testNIOFramesEveryHandWrittenHeadTheSameWay() {
        XCTAssertTrue(assertAgreement(webhook()))
        XCTAssertTrue(assertAgreement(webhook(["traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])))
        XCTAssertTrue(assertAgreement(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
        XCTAssertTrue(assertAgreement(Array("POST /v1/jobs HTTP/1.1\r\ncontent-length:5\r\nX-Empty:\r\n\r\n".utf8)))
        XCTAssertTrue(assertAgreement(Array("POST /webhooks/stripe HTTP/1.1\r\nStripe-Signature: \t a b \t\r\nContent-Length: 0\r\n\r\n".utf8)))
    }

    /// Random damage to a well-formed delivery's head: whenever `RequestHead` still accepts the
    /// result, NIO's decoder must frame it identically.
    func testRandomlyDamagedHeadsAreEitherRefusedOrFramedAsNIODoes() {
        var random = SplitMix(seed: 0x5EED_CAFE)   // deterministic: a failure replays
        let base = webhook(["traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "X-Extra: value"])
        guard case .complete(let baseHead) = scan(base) else { return XCTFail("the base request is not read") }
        let headBytes = Array(base.prefix(baseHead.length))
        let interesting: [UInt8] = [0x0D, 0x0A, 0x20, 0x09, 0x3A, 0x00, 0x7F, 0x80, 0xFF, 0x2C, 0x3B, 0x22, 0x30, 0x61, 0x41]
        let insertions = ["Content-Length: 7\r\n", "Transfer-Encoding: chunked\r\n", "Content-Length: 0\r\n",
                          "content-length: 12\r\n", " \r\n", "\r\n", "Stripe-Signature: t=1,v1=aa\r\n", "X:\r\n",
                          "Connection: close\r\n", "Host: other\r\n"]
        var accepted = 0
        for _ in 0..<20_000 {
            var bytes = headBytes
            for _ in 0...Int.random(in: 0..<3, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<5, using: &random) {
                case 0: bytes.insert(interesting.randomElement(using: &random)!, at: at)
                case 1: bytes.remove(at: at)
                case 2: bytes[at] = interesting.randomElement(using: &random)!
                case 3:
                    let lineStart = (bytes[..<at].lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
                    bytes.insert(contentsOf: Array(insertions.randomElement(using: &random)!.utf8), at: lineStart)
                default:
                    if (0x41...0x5A).contains(bytes[at]) { bytes[at] |= 0x20 } else if (0x61...0x7A).contains(bytes[at]) { bytes[at] &= ~0x20 }
                }
            }
            if assertAgreement(bytes) { accepted += 1 }
        }
        XCTAssertGreaterThan(accepted, 1_000, "the damage should leave many heads readable, or this proves little")
    }
}
