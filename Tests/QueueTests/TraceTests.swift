import CityOSTesting
import Queue
import Synchronization
import XCTest

/// Every job carries a W3C traceparent: the caller's, a child of the running job's, or a new trace.
final class TraceTests: XCTestCase {
    func testANewTraceIsValidAndAChildKeepsItsTraceIDWithASpanOfItsOwn() {
        let root = TraceParent.make()
        XCTAssertTrue(TraceParent.isValid(root), root)
        XCTAssertNotEqual(TraceParent.traceID(of: root), TraceParent.traceID(of: TraceParent.make()))
        let child = TraceParent.child(of: root)
        XCTAssertTrue(TraceParent.isValid(child), child)
        XCTAssertEqual(TraceParent.traceID(of: child), TraceParent.traceID(of: root))
        XCTAssertNotEqual(child.split(separator: "-")[2], root.split(separator: "-")[2], "a span of its own")
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        XCTAssertEqual(TraceParent.traceID(of: TraceParent.child(of: given)), "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertTrue(TraceParent.isValid(TraceParent.child(of: "garbage")), "not a traceparent: a new trace")
        for bad in ["", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                    "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f35-00f067aa0ba902b7-01"] {
            XCTAssertFalse(TraceParent.isValid(bad), bad)
        }
    }

    func testAJobEnqueuedWhileAJobRunsContinuesItsTraceAndOtherJobsStartTheirOwn() async throws {
        let box = ClientBox()
        var registry = JobRegistry()
        registry.register(FanOutJob(box: box))
        registry.register(LeafJob())
        let harness = try QueueHarness(registry: registry, label: "trace")
        box.client.withLock { $0 = harness.client }
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        try await harness.withPool { _ in
            let parent = try await harness.client.enqueue(FanOutJob.self, .init())
            let traced = try await harness.client.enqueue(LeafJob.self, .init(), options: .init(trace: given))
            let plain = try await harness.client.enqueue(LeafJob.self, .init())
            try await eventually("four jobs to succeed: \(harness.events.succeededIDs)") { harness.events.succeededIDs.count == 4 }
            let traces = Dictionary(uniqueKeysWithValues: harness.events.all.compactMap { entry -> (String, String?)? in
                if case .succeeded(let header, _) = entry.event { return (header.id, header.trace) } else { return nil }
            })
            let parentTrace = try XCTUnwrap(traces[parent.id] ?? nil, "the parent was given a trace")
            let childID = try XCTUnwrap(traces.keys.first { ![parent.id, traced.id, plain.id].contains($0) })
            let childTrace = try XCTUnwrap(traces[childID] ?? nil)
            XCTAssertEqual(TraceParent.traceID(of: childTrace), TraceParent.traceID(of: parentTrace), "the child continues the trace")
            XCTAssertNotEqual(childTrace, parentTrace, "as a span of its own")
            XCTAssertEqual(traces[traced.id], given, "a given traceparent is kept")
            let plainTrace = try XCTUnwrap(traces[plain.id] ?? nil)
            XCTAssertTrue(TraceParent.isValid(plainTrace), plainTrace)
            XCTAssertNotEqual(TraceParent.traceID(of: plainTrace), TraceParent.traceID(of: parentTrace), "a trace of its own")
        }
        try await harness.clean()
    }
}

private final class ClientBox: Sendable {
    let client = Mutex<JobClient?>(nil)
}

/// `test.fanout`: enqueues one `test.leaf`.
private struct FanOutJob: JobHandler {
    struct Arguments: Codable, Sendable {}
    static let kind = "test.fanout"
    static let options = JobOptions(queue: "default", retry: .dontRetry, timeout: .seconds(5))
    let box: ClientBox
    func run(_ arguments: Arguments, context: JobContext) async throws {
        let client = try XCTUnwrap(box.client.withLock { $0 })
        try await client.enqueue(LeafJob.self, .init())
    }
}

private struct LeafJob: JobHandler {
    struct Arguments: Codable, Sendable {}
    static let kind = "test.leaf"
    static let options = JobOptions(queue: "default", retry: .dontRetry, timeout: .seconds(5))
    func run(_ arguments: Arguments, context: JobContext) async throws {}
}
