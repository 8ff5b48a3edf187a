import Foundation
import XCTest
@testable import Store

/// Job ids are UUIDv7: valid UUIDs that sort by creation time.
final class TimeOrderedIDTests: XCTestCase {
    func testIDsAreVersion7UUIDsInIncreasingOrder() throws {
        let ids = (0..<5000).map { _ in TimeOrderedID.make() }
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
        let now = Date(timeIntervalSince1970: 1_700_000_000.123)
        let id = TimeOrderedID.make(now: now)
        let millis = UInt64(id.replacingOccurrences(of: "-", with: "").prefix(12), radix: 16)
        XCTAssertGreaterThanOrEqual(millis ?? 0, 1_700_000_000_123)
    }
}
