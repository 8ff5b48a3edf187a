import Foundation
import Jobs
import HTTPTypes
import NIOCore
import NIOPosix
import Queue
import Redis
import Logging
import Synchronization
import XCTest
import CityOSTesting
import Crypto

@testable import Ingress

/// The pieces of webhook handling that need no server: signature parsing and checking, event
/// reading per source, and the hand-built envelope.
final class WebhookUnitTests: XCTestCase {
    /// Jobs waiting on a loop whose Redis connection is gone are all answered (with the error, so
    /// the requests get their 503), not only the first batch: the rest had nothing to flush them.
    func testEveryJobWaitingForAClosedConnectionIsAnsweredNotOnlyTheFirstBatch() async throws {
        let redis = try TestEnvironment.redis(connections: 1)
        defer { redis.shutdown() }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let enqueuer = LoopEnqueuer(loop: loop, client: JobClient(redis: redis, registry: JobRegistry(), namespace: "unused"),
                                    maxBatch: 2)
        let failed = Tally()
        loop.execute {
            for i in 0..<5 {
                enqueuer.enqueue(EncodedJob(id: "job-\(i)", queue: "default", tenantKey: "_", payload: Array("{}".utf8))) { result in
                    if case .failure = result { failed.add() }
                }
            }
        }
        try await eventually(timeout: .seconds(5), "every waiting job to be answered; answered: \(failed.count)") {
            failed.count == 5
        }
    }

    func testHandBuiltEnvelopeDecodesAsTheArgumentsTheHandlerDeclares() throws {
        let body = Array(#"{"id":"evt_\"quoted\"\n","type":"a\\b","data":{"x":[1,2.5,null,true]},"tenant_id":"t-1"}"#.utf8)
        let event = try WebhookEvent.read(.medusa, body: ByteBuffer(bytes: body))
        XCTAssertEqual(event, WebhookEvent(id: "evt_\"quoted\"\n", type: "a\\b", tenant: "t-1"))
        let job = WebhookJob.make(source: .medusa, event: event, body: ByteBuffer(bytes: body), maxAttempts: 10,
                                  dedupeSeconds: 3600, receivedAt: 1_700_000_000_000, trace: "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01")
        let envelope = try JobEnvelope.decode(job.payload)
        XCTAssertEqual(envelope.id, job.id)
        XCTAssertEqual(envelope.id, JobID.derived(from: "webhook:medusa:evt_\"quoted\"\n"))
        XCTAssertEqual(envelope.kind, "webhook.medusa")
        XCTAssertEqual(envelope.queue, "webhooks")
        XCTAssertEqual(envelope.tenant, "t-1")
        XCTAssertEqual(job.tenantKey, "t-1")
        XCTAssertEqual(envelope.maxAttempts, 10)
        XCTAssertEqual(envelope.enqueuedAt, 1_700_000_000_000)
        XCTAssertEqual(envelope.trace, "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01")
        let arguments = try JSONDecoder().decode(Wrapper.self, from: Data(job.payload)).args
        XCTAssertEqual(arguments.source, "medusa")
        XCTAssertEqual(arguments.eventID, "evt_\"quoted\"\n")
        XCTAssertEqual(arguments.type, "a\\b")
        XCTAssertEqual(arguments.receivedAt, 1_700_000_000_000)
        XCTAssertEqual(arguments.payload, try JSONDecoder().decode(JSONValue.self, from: Data(body)))
        XCTAssertEqual(job.idempotencyKey, "webhook:medusa:evt_\"quoted\"\n")
        XCTAssertEqual(job.uniqueFor, 3600)
    }

    private struct Wrapper: Decodable { var args: WebhookEventArguments }

    func testTimestampedHeaderParsing() throws {
        let parsed = try TimestampedSignature(parsing: "t=12, v1=0aFF ,v0=zz,v1=00,extra")
        XCTAssertEqual(parsed.timestamp, 12)
        XCTAssertEqual(parsed.signatures, [[0x0a, 0xff], [0x00]])
        XCTAssertThrowsError(try TimestampedSignature(parsing: "v1=00"))
        XCTAssertThrowsError(try TimestampedSignature(parsing: "t=1"))
        XCTAssertThrowsError(try TimestampedSignature(parsing: "t=1,v1=xyz"))
    }

    /// The signing key's HMAC-SHA256 (two hash states kept, raw bytes fed) is swift-crypto's
    /// HMAC<SHA256> for keys shorter than, as long as and longer than SHA-256's block, and the
    /// hex and decimal helpers the check uses are exact.
    func testTheSigningKeysMACIsHMACSHA256AndItsHelpersAreExact() throws {
        for keyLength in [0, 1, 31, 63, 64, 65, 200] {
            let secret = (0..<keyLength).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            for message in [[UInt8](), Array("1700000000.".utf8), Array(repeating: 0x7b, count: 1_500)] {
                let mine = SigningKey(secret: secret).mac { hash in message.withUnsafeBytes { hash.update(bufferPointer: $0) } }
                let reference = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret))
                XCTAssertEqual(Array(mine), Array(reference), "key of \(keyLength) bytes, message of \(message.count)")
            }
        }
        XCTAssertEqual(Hex.decode("0aFf10"), [0x0a, 0xff, 0x10])
        XCTAssertNil(Hex.decode("0g"))
        XCTAssertNil(Hex.decode("abc"))
        XCTAssertNil(Hex.decode(""))
        XCTAssertNil(Hex.decode("0a:0"))
        for value: Int64 in [0, 7, 10, 1_700_000_000, .max, -42, .min] {
            let bytes = SignatureScheme.withDecimal(value, then: UInt8(ascii: ".")) { Array($0) }
            XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "\(value).")
        }
    }

    func testFutureTimestampsBeyondToleranceAreRefused() throws {
        let body = ByteBuffer(bytes: Array("{}".utf8))
        let now: Int64 = 1_700_000_000
        let header = TimestampedSignature.header(body: Array("{}".utf8), secret: Array("s".utf8), timestamp: now + 301)
        let scheme = SignatureScheme.timestamped(header: .stripeSignature, tolerance: 300)
        XCTAssertThrowsError(try scheme.verify(signature: header, body: body,
                                               secret: SigningKey(secret: Array("s".utf8)), now: now))
        let fresh = TimestampedSignature.header(body: Array("{}".utf8), secret: Array("s".utf8), timestamp: now - 299)
        XCTAssertNoThrow(try scheme.verify(signature: fresh, body: body,
                                           secret: SigningKey(secret: Array("s".utf8)), now: now))
    }

    func testERPNextEventIDFallsBackToABodyDigestWithoutModified() throws {
        let a = try WebhookEvent.read(.erpnext, body: ByteBuffer(bytes: Array(#"{"doctype":"Payment Entry","name":"PE-1","event":"on_update","v":1}"#.utf8)))
        let b = try WebhookEvent.read(.erpnext, body: ByteBuffer(bytes: Array(#"{"doctype":"Payment Entry","name":"PE-1","event":"on_update","v":2}"#.utf8)))
        XCTAssertTrue(a.id.hasPrefix("Payment Entry:PE-1:on_update:"))
        XCTAssertNotEqual(a.id, b.id)
        XCTAssertEqual(a.type, "Payment Entry.on_update")
    }

    /// A Frappe template renders a missing field as "": an empty `id` or `modified` must not make
    /// different events one id (the second would be answered as a duplicate and never stored).
    func testERPNextEmptyIDOrModifiedCountAsAbsent() throws {
        func read(_ json: String) throws -> WebhookEvent {
            try WebhookEvent.read(.erpnext, body: ByteBuffer(bytes: Array(json.utf8)))
        }
        let first = try read(#"{"id":"","doctype":"Sales Invoice","name":"SI-1","event":"on_submit","modified":"2026-12-01 10:00:00"}"#)
        let second = try read(#"{"id":"","doctype":"Sales Invoice","name":"SI-2","event":"on_submit","modified":"2026-12-01 10:00:00"}"#)
        XCTAssertEqual(first.id, "Sales Invoice:SI-1:on_submit:2026-12-01 10:00:00")
        XCTAssertNotEqual(first.id, second.id)
        let saved = try read(#"{"doctype":"Payment Entry","name":"PE-1","event":"on_update","modified":"","v":1}"#)
        let savedAgain = try read(#"{"doctype":"Payment Entry","name":"PE-1","event":"on_update","modified":"","v":2}"#)
        XCTAssertNotEqual(saved.id, savedAgain.id, "two saves of one document without a version are two events")
        XCTAssertFalse(saved.id.hasSuffix(":"), saved.id)
    }

    /// An empty tenant is no tenant, as a template renders a missing field, for every source: not
    /// a 400 that the sender would retry until it gave the event up.
    func testAnEmptyTenantCountsAsAbsent() throws {
        let bodies: [(WebhookSource, String)] = [
            (.stripe, #"{"id":"evt_1","type":"t","data":{"object":{"metadata":{"tenant_id":""}}},"tenant_id":""}"#),
            (.medusa, #"{"id":"e","type":"t","tenant_id":""}"#),
            (.fleetbase, #"{"id":"e","event":"order.created","tenant_id":""}"#),
            (.erpnext, #"{"doctype":"Sales Invoice","name":"SI-1","event":"on_submit","modified":"m","tenant_id":""}"#),
        ]
        for (source, body) in bodies {
            let event = try WebhookEvent.read(source, body: ByteBuffer(bytes: Array(body.utf8)))
            XCTAssertNil(event.tenant, "\(source)")
        }
        let stripe = try WebhookEvent.read(.stripe, body: ByteBuffer(bytes: Array(
            #"{"id":"evt_1","type":"t","data":{"object":{"metadata":{"tenant_id":""}}},"tenant_id":"t-2"}"#.utf8)))
        XCTAssertEqual(stripe.tenant, "t-2", "an empty metadata tenant gives way to the top-level one")
    }

    func testInvalidTenantIsRefused() {
        XCTAssertThrowsError(try WebhookEvent.read(.medusa, body: ByteBuffer(bytes: Array(#"{"id":"e","type":"t","tenant_id":"a b"}"#.utf8))))
    }

    func testIncomingTraceparentIsKeptAndInvalidOnesReplaced() {
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        XCTAssertEqual(Trace(headers: [HTTPField.Name("traceparent")!: given]).traceparent, given)
        XCTAssertEqual(Trace(headers: [HTTPField.Name("traceparent")!: given]).traceID, "4bf92f3577b34da6a3ce929d0e0e4736")
        let made = Trace(headers: [HTTPField.Name("traceparent")!: "garbage"]).traceparent
        XCTAssertNotEqual(made, "garbage")
        XCTAssertTrue(TraceParent.isValid(made), made)
        let fresh = Trace(traceparent: nil)
        XCTAssertEqual(fresh.traceID.count, 32)
        XCTAssertEqual(fresh.traceparent, "00-\(fresh.traceID)-\(fresh.traceparent.suffix(19))")
        XCTAssertNotEqual(Trace(traceparent: nil).traceID, fresh.traceID)
    }

    /// A 503 never says "nothing was stored": after a timeout or a connection lost with the command
    /// sent the job may be stored, and a client told otherwise would send a new request (a second
    /// job) instead of the same one again. Each says to send the same request again.
    func testA503NeverSaysNothingWasStoredAndAsksForTheSameRequestAgain() {
        let logger = Logger(label: "test")
        let full = ErrorMiddleware.apiError(for: RedisError.server("OOM command not allowed when used memory > 'maxmemory'."),
                                            logger: logger)
        XCTAssertTrue(full.message.contains("refused the request (OOM)"), full.message)
        let lost = ErrorMiddleware.apiError(for: RedisError.timeout(address: "127.0.0.1:6379", seconds: 5), logger: logger)
        XCTAssertTrue(lost.message.contains("may or may not have been stored"), lost.message)
        for error in [RedisError.connectionRefused(address: "127.0.0.1:1", reason: "refused"), .server("READONLY replica"),
                      .timeout(address: "127.0.0.1:6379", seconds: 5), .connectionClosed(address: "127.0.0.1:6379")] {
            let answer = ErrorMiddleware.apiError(for: error, logger: logger)
            XCTAssertEqual(answer.status, .serviceUnavailable, "\(error)")
            XCTAssertEqual(answer.code, "unavailable")
            XCTAssertEqual(answer.retryAfter, 5)
            XCTAssertFalse(answer.message.contains("nothing was stored"), answer.message)
            XCTAssertTrue(answer.message.contains("same idempotency_key"), answer.message)
        }
    }

    func testEachSourcesOrdinalIsItsPlaceAmongAllCases() {
        for (place, source) in WebhookSource.allCases.enumerated() { XCTAssertEqual(source.ordinal, place, "\(source)") }
    }
}

/// A count shared with callbacks on an event loop.
private final class Tally: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}
