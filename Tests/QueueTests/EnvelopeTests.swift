import Foundation
@testable import Queue
import Redis
import XCTest

/// Envelopes are written by hand and read by a scanner on the hot path: both must agree with
/// ordinary JSON, escapes and nesting included.
final class EnvelopeTests: XCTestCase {
    private let tricky = JobEnvelope(
        id: JobID.make(), kind: "diag.\"odd\"", queue: "q\\1", tenant: "tenant\n\u{1}é🚀",
        args: .object(["text": .string("a \"quote\", a \\ and a }"), "list": .array([.number(1.5), .null, .bool(true)]),
                       "nested": .object(["deep": .array([.object([:])])]), "big": .number(12345678901)]),
        attempt: 2, maxAttempts: 5, enqueuedAt: 1_790_000_000_123, dueAt: nil,
        errors: [JobErrorRecord(attempt: 1, at: 1, message: "boom: \"x\"\t")], trace: nil)

    /// A delay no clock reaches (`cityos enqueue --delay 1e300`, or `inf`) is a century, not a
    /// trap converting it to milliseconds.
    func testADelayNoClockReachesIsCappedNotATrap() throws {
        let redis = try RedisClient(url: "redis://127.0.0.1:1/0")   // never connected: the envelope is only built
        defer { redis.shutdown() }
        let client = JobClient(redis: redis, registry: JobRegistry())
        for delay in [1e300, Double.infinity] {
            let envelope = client.makeEnvelope(kind: "diag.noop", args: .object([:]), options: .init(delaySeconds: delay))
            let due = try XCTUnwrap(envelope.dueAt)
            XCTAssertEqual(due - envelope.enqueuedAt, 3_153_600_000_000, "\(delay)")
        }
        let now = client.makeEnvelope(kind: "diag.noop", args: .object([:]), options: .init(delaySeconds: .nan))
        XCTAssertNil(now.dueAt, "not a number: no delay")
    }

    func testTheWriterProducesJSONThatFoundationReadsBackIdentically() throws {
        let bytes = try tricky.encoded()
        XCTAssertEqual(try JSONDecoder().decode(JobEnvelope.self, from: Data(bytes)), tricky)
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(bytes)))
    }

    func testTheScannerReadsTheHeaderAndFindsTheArguments() throws {
        let bytes = try tricky.encoded()
        let scan = try EnvelopeScanner.scan(bytes)
        XCTAssertEqual(scan.header, tricky.header)
        let args = try JSONDecoder().decode(JSONValue.self, from: Data(bytes[scan.arguments]))
        XCTAssertEqual(args, tricky.args)
    }

    func testTheScannerReadsEnvelopesOtherToolsWrote() throws {
        let text = #" { "kind" : "diag.noop", "args": {"a": [1, {"b": "}"}]}, "id": "x\u00e9\ud83d\ude80", "queue": "default", "# +
            #""attempt": 0, "max_attempts": 3.0, "enqueued_at": 17, "due_at": null, "extra": [true, false] } "#
        let scan = try EnvelopeScanner.scan(Array(text.utf8))
        XCTAssertEqual(scan.header.id, "xé🚀")
        XCTAssertEqual(scan.header.maxAttempts, 3)
        XCTAssertNil(scan.header.tenant)
        XCTAssertEqual(String(decoding: Array(text.utf8)[scan.arguments], as: UTF8.self), #"{"a": [1, {"b": "}"}]}"#)
    }

    func testWhatIsNotAnEnvelopeIsPoisonWithAReason() {
        let cases: [(String, String)] = [
            ("{not json", "unexpected"),
            ("", "ends early"),
            (#"{"id":"1","kind":"k","queue":"q","attempt":0,"max_attempts":1,"enqueued_at":1}"#, "missing field 'args'"),
            (#"{"id":"1","kind":"k","queue":"q","args":{},"attempt":"zero","max_attempts":1,"enqueued_at":1}"#, "'attempt' is not an integer"),
            (#"{"id":"1","kind":"k","args":{"#, "ends early"),
        ]
        for (text, reason) in cases {
            XCTAssertThrowsError(try EnvelopeScanner.scan(Array(text.utf8)), text) { error in
                guard case JobFailure.poison(let message) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains(reason), "\(text): \(message)")
            }
        }
    }
}
