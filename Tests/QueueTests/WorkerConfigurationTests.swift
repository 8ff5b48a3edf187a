@testable import Queue
import XCTest

/// `--queues` / `workers.queues`: a worker takes only queues whose names every other part of the
/// platform accepts (the ops API, the CLI), so that their dead letters and pause stay reachable.
final class WorkerConfigurationTests: XCTestCase {
    func testQueueNamesFollowTheRuleEveryQueueNameMeets() throws {
        let parsed = try WorkerConfiguration.parseQueues("webhooks:3, default ,payouts.v2:1")
        XCTAssertEqual(parsed.map(\.name), ["webhooks", "default", "payouts.v2"])
        XCTAssertEqual(parsed.map(\.weight), [3, 1, 1])
        for bad in ["é", "..", "a b", String(repeating: "q", count: 65), "webhooks:0", "webhooks:x"] {
            XCTAssertThrowsError(try WorkerConfiguration.parseQueues(bad), bad) { error in
                XCTAssertTrue("\(error)".contains(bad.split(separator: ":").first.map(String.init) ?? bad), "\(error)")
            }
        }
        XCTAssertThrowsError(try WorkerConfiguration.parseQueues(""), "no queue")
        XCTAssertTrue(KeyName.isValid(String(repeating: "q", count: 64)))
        XCTAssertNoThrow(try WorkerConfiguration.parseQueues(String(repeating: "q", count: 64)))
    }
}
