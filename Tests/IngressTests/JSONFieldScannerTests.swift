import Foundation
import Queue
import XCTest

@testable import Ingress

/// The webhook path's JSON check agrees with Foundation's parser on what is JSON, and finds the
/// fields it is asked for.
final class JSONFieldScannerTests: XCTestCase {
    let scanner = JSONFieldScanner(paths: [["id"], ["data", "object", "metadata", "tenant_id"], ["n"]])

    private func scan(_ text: String) -> [Int: String]? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { try? scanner.scan($0) }
    }

    private func scan(bytes: [UInt8]) -> [Int: String]? {
        bytes.withUnsafeBytes { try? scanner.scan($0) }
    }

    func testFindsValuesAtTheirPathsOnly() {
        let found = scan(#" {"x":{"id":"nested"},"id":"evt_\"1\"\u00e9\ud83d\ude00","data":{"object":{"metadata":{"tenant_id":"t1"}}},"n":-12.5e3} "#)
        XCTAssertEqual(found?[0], "evt_\"1\"é😀")
        XCTAssertEqual(found?[1], "t1")
        XCTAssertEqual(found?[2], "-12.5e3")
        XCTAssertEqual(scan(#"{"id":{"a":1},"arr":[{"id":"no"}]}"#)?[0], nil)
        XCTAssertEqual(scan(#"{"i\u0064":"escaped key"}"#)?[0], "escaped key")
    }

    func testRefusesWhatIsNotOneJSONObject() {
        for text in ["", "[]", "\"s\"", "1", "{", "{}}", "{} {}", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, #"{"a":01}"#,
                     #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":+1}"#, #"{"a":tru}"#, #"{"a":"\x"}"#, #"{"a":"\ud800"}"#,
                     #"{"a":"\udc00"}"#, "{\"a\":\"\u{01}\"}", #"{'a':1}"#, #"{"a":NaN}"#, #"{a:1}"#] {
            XCTAssertNil(scan(text), text)
        }
        XCTAssertNil(scan(bytes: Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)), "invalid UTF-8")
        XCTAssertNil(scan(bytes: Array(#"{"a":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8)), "UTF-8 surrogate")
        XCTAssertNotNil(scan(#"{"a":[1,2.5e-3,true,false,null,{"b":[]}],"c":"\/\b\f\n\r\t"}"#))
        let deep = String(repeating: #"{"a":"#, count: 300) + "1" + String(repeating: "}", count: 300)
        XCTAssertNil(scan(deep), "nesting is bounded")
    }

    /// A key on a path repeated in its object is refused: JSONDecoder, which the job reads the
    /// body with, keeps the first value, so the event's id or tenant would differ from what the
    /// ingress deduplicated and routed it by. Keys off the paths may repeat, as JSON allows.
    func testAKeyOnAPathRepeatedInItsObjectIsRefused() {
        XCTAssertNil(scan(#"{"id":"evt_A","n":1,"id":"evt_B"}"#))
        XCTAssertNil(scan(#"{"id":{"x":1},"id":"evt_B"}"#), "the first is not a string: still a repeat")
        XCTAssertNil(scan(#"{"data":{"object":{}},"data":{"object":{"metadata":{"tenant_id":"b"}}}}"#), "a repeated key on the way")
        XCTAssertNil(scan(#"{"data":{"object":{"metadata":{"tenant_id":"a","tenant_id":"b"}}}}"#))
        XCTAssertEqual(scan(#"{"x":1,"x":2,"id":"evt_A","data":{"y":1,"y":2,"object":{"id":"o","id":"p"}}}"#)?[0], "evt_A",
                       "keys off the paths may repeat")
        XCTAssertEqual(scan(#"{"list":[{"id":"a"},{"id":"b"}],"id":"evt_A"}"#)?[0], "evt_A", "ids in other objects are theirs")
    }

    /// A number a Double cannot hold is refused, as JSONDecoder (which reads the job's arguments)
    /// refuses it: accepted, the event would be answered 202 and die unread in the worker.
    func testNumbersOutOfADoublesRangeAreRefusedAsJSONDecoderRefusesThem() {
        let refused = ["1e400", "-1e400", "1E+999", "1e-400", "2e-324", "-0.5e-330", String(repeating: "9", count: 400),
                       "0." + String(repeating: "0", count: 400) + "1", "-0." + String(repeating: "0", count: 330) + "5"]
        let accepted = ["1e308", "-1.7976931348623157e308", "4.9e-324", "0e999999", "0.000e-999", "-0", "12345678901234567890",
                        String(repeating: "9", count: 300), "0." + String(repeating: "0", count: 299) + "1",
                        "0." + String(repeating: "0", count: 400), "1." + String(repeating: "5", count: 400)]
        for number in refused + accepted {
            let text = #"{"id":"evt_1","n":"# + number + "}"
            let decoder = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) != nil
            XCTAssertEqual(scan(text) != nil, decoder, "the scanner and JSONDecoder disagree on \(number.prefix(30))")
            XCTAssertEqual(scan(text) == nil, refused.contains(number), String(number.prefix(30)))
        }
    }

    /// Long strings are stepped over eight bytes at a time: a byte that needs a look (a quote, a
    /// backslash, a control character, a non-ASCII byte) is found at every offset of the word.
    func testEveryByteOfALongStringIsLookedAt() {
        let cases: [(insert: [UInt8], valid: Bool)] = [
            ([0x5C, 0x22], true), ([0x5C, 0x6E], true), ([0xC3, 0xA9], true),
            ([0x0A], false), ([0x1F], false), ([0x00], false), ([0xC3, 0x28], false), (Array(#"\q"#.utf8), false),
        ]
        for (insert, valid) in cases {
            for offset in 0..<24 {
                let text = Array(String(repeating: "x", count: offset).utf8) + insert + Array(String(repeating: "y", count: 40).utf8)
                let body = Array(#"{"pad":""#.utf8) + text + Array(#"","id":"evt_long"}"#.utf8)
                let found = scan(bytes: body)
                XCTAssertEqual(found != nil, valid, "\(insert) at offset \(offset)")
                if valid { XCTAssertEqual(found?[0], "evt_long") }
            }
        }
        // A quote inside the plain run ends the string there: what follows must then be JSON.
        XCTAssertNil(scan(#"{"pad":"xxxxxxxxxxxx"xxxxxxxxxxxxxxxx"}"#))
    }

    /// Random mutations of a real event: the scanner accepts exactly what JSONDecoder accepts
    /// as a JSON object.
    func testAgreesWithJSONDecoderOnMutatedEvents() {
        let seed = Array(Signer.stripeEvent(id: "evt_fuzz", size: 600, tenant: "t9"))
        var generator = SplitMix(seed: 42)
        let alphabet = Array(#"{}[]":,\ -+.0123456789eEtrufalsn"#.utf8) + [0x0a, 0xC3, 0xA9, 0x80]
        var disagreements: [String] = []
        for _ in 0..<3000 {
            var bytes = seed
            for _ in 0..<Int(generator.next() % 3 + 1) {
                let at = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 3 {
                case 0: bytes.remove(at: at)
                case 1: bytes.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: at)
                default: bytes[at] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                }
                if bytes.isEmpty { bytes = [0x7b] }
            }
            let ours = scan(bytes: bytes) != nil
            let foundation: Bool
            if case .object = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) { foundation = true } else { foundation = false }
            if ours != foundation { disagreements.append(String(decoding: bytes, as: UTF8.self)) }
        }
        XCTAssertEqual(disagreements.count, 0, disagreements.prefix(3).joined(separator: "\n"))
    }
}

/// A seeded generator, so the mutations are the same on every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
