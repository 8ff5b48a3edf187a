import Foundation
import Queue
import XCTest

/// Job ids are UUIDv7: valid UUIDs that sort by creation time, also within one millisecond.
final class JobIDTests: XCTestCase {
    func testIDsAreVersion7UUIDsInIncreasingOrder() throws {
        let ids = (0..<5000).map { _ in JobID.make() }
        XCTAssertEqual(ids, ids.sorted(), "ids made one after another must sort in that order")
        XCTAssertEqual(Set(ids).count, ids.count)
        for id in ids.prefix(10) {
            let uuid = try XCTUnwrap(UUID(uuidString: id), id)
            XCTAssertEqual(uuid.uuidString.lowercased(), id)
            XCTAssertEqual(Array(id)[14], "7", "version nibble of \(id)")
            XCTAssertTrue("89ab".contains(Array(id)[19]), "variant of \(id)")
        }
    }

    func testTheTimestampIsTheCreationTimeInMilliseconds() {
        let id = JobID.make(at: Date(timeIntervalSince1970: 2_000_000_000.123))
        let millis = UInt64(id.replacingOccurrences(of: "-", with: "").prefix(12), radix: 16)
        XCTAssertGreaterThanOrEqual(millis ?? 0, 2_000_000_000_123)
    }

    func testDerivedIDsAreStableAndDistinct() {
        XCTAssertEqual(JobID.derived(from: "a"), JobID.derived(from: "a"))
        XCTAssertNotEqual(JobID.derived(from: "a"), JobID.derived(from: "b"))
        XCTAssertNotNil(UUID(uuidString: JobID.derived(from: "schedule:x:1")))
    }
}
