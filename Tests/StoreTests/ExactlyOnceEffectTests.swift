import CityOSTesting
import Foundation
import Jobs
import PostgresNIO
import Queue
import Redis
import XCTest
@testable import Store

/// Guarantee 2 end to end: at-least-once delivery from Redis, effects once in PostgreSQL.
final class ExactlyOnceEffectTests: XCTestCase {
    func testAWorkerKilledAfterItsCommitAndBeforeItsAckLeavesExactlyOneRow() async throws {
        try await withTestDatabases { databases in
            let harness = try QueueHarness(registry: JobCatalog.registry(database: databases.app))
            let key = "crash-\(UUID().uuidString)"
            let id = try await harness.client.enqueue(RecordJob.self, .init(key: key)).id

            // A real worker process that dies (SIGKILL) right after the job's transaction commits.
            let worker = try ChildProcess(
                arguments: ["work", "--queues", "default", "--concurrency", "4"],
                environment: try harness.childEnvironment([
                    "CITYOS_FAILPOINTS": "diag.record.after_commit",
                    "CITYOS_WORKERS_HEARTBEAT_TTL_SECONDS": "1",
                ]))
            let status = try await worker.waitForExit(timeout: .seconds(30))
            XCTAssertEqual(status, SIGKILL, "the worker must die at the failpoint; log:\n\(worker.log)")
            let value1 = try await rows(key, databases.app)
            XCTAssertEqual(value1, 1, "the commit happened before the crash")
            let queue = try await harness.queue("default")
            XCTAssertEqual(queue?.inFlight, 1, "the job was never acknowledged")

            // Recovery redelivers the job; the ledger acknowledges it without a second row.
            try await harness.withPool { _ in
                try await eventually(timeout: .seconds(15), "the recovered job was not acknowledged") {
                    try await harness.queue("default")?.processed == 1
                }
            }
            let value2 = try await rows(key, databases.app)
            XCTAssertEqual(value2, 1, "exactly one row after recovery")
            XCTAssertTrue(harness.events.succeeded(id))
            let value3 = try await harness.queue("default")?.recovered
            XCTAssertEqual(value3, 1)
            try await harness.clean()
        }
    }

    func testACommittedOutboxJobRunsExactlyOnceAndARolledBackOneNever() async throws {
        try await withTestDatabases { databases in
            let harness = try QueueHarness(registry: JobCatalog.registry(database: databases.app))
            let kept = "outbox-kept-\(UUID().uuidString)"
            let dropped = "outbox-dropped-\(UUID().uuidString)"
            try await databases.app.withoutTenant { connection in
                try await Outbox.enqueue(on: connection, job: OutboxJob(kind: RecordJob.kind, queue: "default", tenant: nil,
                                                                        argsJSON: #"{"key":"\#(kept)"}"#))
            }
            struct Rollback: Error {}
            do {
                try await databases.app.withoutTenant { connection in
                    try await Outbox.enqueue(on: connection, job: OutboxJob(kind: RecordJob.kind, queue: "default", tenant: nil,
                                                                            argsJSON: #"{"key":"\#(dropped)"}"#))
                    throw Rollback()
                }
                XCTFail("the transaction must roll back")
            } catch is Rollback {}

            let relay = OutboxRelay(database: databases.app, pollInterval: .milliseconds(100),
                                    sink: OutboxRelay.queueSink(harness.client))
            let relaying = Task { await relay.run() }
            try await harness.withPool { _ in
                try await eventually("the committed outbox job never ran") { try await self.rows(kept, databases.app) == 1 }
                try await eventually("the outbox was not drained") { try await self.outboxRows(databases.app) == 0 }
            }
            relaying.cancel()
            await relaying.value
            // Relaying the same job again (a crash before the outbox delete) creates nothing.
            let again = OutboxJob(jobID: try XCTUnwrap(harness.events.succeededIDs.first), kind: RecordJob.kind,
                                  queue: "default", tenant: nil, argsJSON: #"{"key":"\#(kept)"}"#)
            try await OutboxRelay.queueSink(harness.client)([again])
            let queue = try await harness.queue("default")
            XCTAssertEqual(queue?.ready, 0, "a relayed-twice job is not enqueued twice")
            XCTAssertEqual(queue?.processed, 1)
            let value4 = try await rows(kept, databases.app)
            XCTAssertEqual(value4, 1)
            let value5 = try await rows(dropped, databases.app)
            XCTAssertEqual(value5, 0, "a rolled-back transaction leaves no job")
            try await harness.clean()
        }
    }

    /// An outbox row whose arguments this process cannot read (jsonb takes `1e400`, a Double does
    /// not) becomes a dead letter saying why; the rows after it are relayed and run as usual.
    func testAnOutboxRowWhoseArgumentsDoNotReadBecomesADeadLetterAndHoldsNothingBack() async throws {
        try await withTestDatabases { databases in
            let harness = try QueueHarness(registry: JobCatalog.registry(database: databases.app))
            let good = "outbox-after-poison-\(UUID().uuidString)"
            let poison = OutboxJob(kind: RecordJob.kind, queue: "default", tenant: nil, argsJSON: #"{"key":"p","n":1e400}"#)
            try await databases.app.withoutTenant { connection in
                try await Outbox.enqueue(on: connection, job: poison)
                try await Outbox.enqueue(on: connection, job: OutboxJob(kind: RecordJob.kind, queue: "default", tenant: nil,
                                                                        argsJSON: #"{"key":"\#(good)"}"#))
            }
            let relay = OutboxRelay(database: databases.app, sink: OutboxRelay.queueSink(harness.client))
            let relayed = try await relay.relayBatch()
            XCTAssertEqual(relayed, 2, "the row that does not read does not stop the batch")
            let left = try await outboxRows(databases.app)
            XCTAssertEqual(left, 0)
            try await harness.withPool { _ in
                try await eventually("the job after the poison row never ran") { try await self.rows(good, databases.app) == 1 }
                try await eventually("the poison row never became a dead letter") {
                    try await harness.deadLetters.list(queue: "default").total == 1
                }
            }
            let letters = try await harness.deadLetters.list(queue: "default")
            let letter = try XCTUnwrap(letters.entries.first)
            XCTAssertEqual(letter.id, poison.jobID)
            let history = letter.envelope?.errors.map(\.message) ?? []
            XCTAssertTrue(history.first?.contains("not JSON this platform reads") ?? false, "\(history)")
            try await harness.clean()
        }
    }

    private func rows(_ key: String, _ database: Database) async throws -> Int {
        try await database.withoutTenant { connection in
            let result = try await connection.query("SELECT count(*) FROM diag_records WHERE key = \(key)", logger: TestDatabases.logger)
            var count = 0
            for try await (n) in result.decode(Int.self) { count = n }
            return count
        }
    }

    private func outboxRows(_ database: Database) async throws -> Int {
        try await database.withPlatformSweep { connection in
            let result = try await connection.query("SELECT count(*) FROM outbox", logger: TestDatabases.logger)
            var count = 0
            for try await (n) in result.decode(Int.self) { count = n }
            return count
        }
    }
}
