import Foundation
import PostgresNIO
import XCTest
@testable import Store

/// The outbox: jobs written in a transaction reach Redis (here, an in-memory sink) if and
/// only if that transaction commits, exactly once per job id.
final class OutboxTests: XCTestCase {
    private let logger = TestDatabases.logger

    private func job(for tenant: UUID?, kind: String = "commissions.calculate") -> OutboxJob {
        OutboxJob(kind: kind, queue: "commissions", tenant: tenant, argsJSON: #"{"order_id": "order_1", "amount": 1250}"#)
    }

    /// Every job id waiting in the outbox, as the relay sees them.
    private func waitingJobIDs(_ database: Database) async throws -> [String] {
        try await database.withPlatformSweep { connection in
            try await connection.values("SELECT job_id FROM outbox ORDER BY id", as: String.self)
        }
    }

    /// Empties the outbox, so a relay in this test sees only this test's jobs.
    private func clearOutbox(_ database: Database) async throws {
        try await database.withPlatformSweep { connection in
            try await connection.query("DELETE FROM outbox", logger: self.logger)
        }
    }

    /// Runs `relay` for the duration of `body`.
    private func withRelay(_ relay: OutboxRelay, _ body: () async throws -> Void) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await relay.run() }
            defer { group.cancelAll() }
            try await body()
        }
    }

    func testRolledBackTransactionLeavesNoOutboxRow() async throws {
        struct Abort: Error {}
        try await withTestDatabases { databases in
            let tenant = try await TenantFixture.create(in: databases.app)
            try await clearOutbox(databases.app)
            let job = job(for: tenant.id)
            _ = await thrownError {
                try await databases.app.withTenant(tenant.id) { connection in
                    try await Outbox.enqueue(on: connection, job: job)
                    throw Abort()
                }
            }
            let waiting = try await waitingJobIDs(databases.app)
            XCTAssertEqual(waiting, [])
        }
    }

    func testCommittedJobIsRelayedOnceAndPromptlyByNotify() async throws {
        try await withTestDatabases { databases in
            let tenant = try await TenantFixture.create(in: databases.app)
            try await clearOutbox(databases.app)
            let delivered = Recorder<OutboxJob>()
            let events = Recorder<OutboxRelay.Event>()
            // Polling only every minute: a delivery within seconds must come from NOTIFY.
            let relay = OutboxRelay(database: databases.app, pollInterval: .seconds(60),
                                    onEvent: { events.append($0) }) { jobs in delivered.append(contentsOf: jobs) }
            let job = job(for: tenant.id)
            try await withRelay(relay) {
                try await eventually("the relay to LISTEN") { events.all.contains(.listening) }
                try await databases.app.withTenant(tenant.id) { connection in
                    try await Outbox.enqueue(on: connection, job: job)
                }
                // .relayed comes after the relay's transaction (sink, then delete) committed.
                try await eventually(within: 5, "the committed job to be relayed via NOTIFY") {
                    events.all.contains(.relayed(jobIDs: [job.jobID]))
                }
                let relayedAgain = try await relay.relayBatch()
                XCTAssertEqual(relayedAgain, 0, "a relayed job must have left the outbox")
            }
            XCTAssertEqual(delivered.all.map(\.jobID), [job.jobID])
            let relayed = try XCTUnwrap(delivered.all.first)
            XCTAssertEqual(relayed.tenant, tenant.id)
            XCTAssertEqual(relayed.kind, job.kind)
            XCTAssertEqual(relayed.queue, job.queue)
            XCTAssertEqual(try JSONSerialization.jsonObject(with: Data(relayed.argsJSON.utf8)) as? NSDictionary,
                           ["order_id": "order_1", "amount": 1250] as NSDictionary)
            let waiting = try await waitingJobIDs(databases.app)
            XCTAssertEqual(waiting, [])
        }
    }

    func testSinkFailureBeforeCommitRedeliversTheSameJobID() async throws {
        struct RedisWentAway: Error {}
        try await withTestDatabases { databases in
            let tenant = try await TenantFixture.create(in: databases.app)
            try await clearOutbox(databases.app)
            let attempts = Recorder<String>()
            let relay = OutboxRelay(database: databases.app, pollInterval: .milliseconds(50)) { jobs in
                // The sink records the jobs (Redis has them), then "crashes" before the commit, once.
                let isFirstAttempt = attempts.count == 0
                attempts.append(contentsOf: jobs.map(\.jobID))
                if isFirstAttempt { throw RedisWentAway() }
            }
            let job = job(for: tenant.id)
            try await databases.app.withTenant(tenant.id) { connection in
                try await Outbox.enqueue(on: connection, job: job)
            }
            try await withRelay(relay) {
                try await eventually("the relay to deliver the job again after the failed attempt") {
                    attempts.count >= 2
                }
                try await eventually("the outbox to be empty") { try await self.waitingJobIDs(databases.app).isEmpty }
            }
            XCTAssertEqual(attempts.all, [job.jobID, job.jobID], "redelivery must reuse the job id, never mint a new one")
        }
    }

    func testTenantCannotEnqueueAJobForAnotherTenant() async throws {
        try await withTestDatabases { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let b = try await TenantFixture.create(in: databases.app)
            let error = await thrownError {
                try await databases.app.withTenant(a.id) { connection in
                    _ = try await Outbox.enqueue(on: connection, job: self.job(for: b.id))
                }
            }
            XCTAssertEqual((error as? StoreError).flatMap {
                if case .queryFailed(_, let sqlState, _) = $0 { sqlState } else { nil }
            }, "42501", "got \(String(describing: error))")
        }
    }

    func testSweepFansOutJobsForEveryTenant() async throws {
        try await withTestDatabases { databases in
            let a = try await TenantFixture.create(in: databases.app)
            let b = try await TenantFixture.create(in: databases.app)
            try await clearOutbox(databases.app)
            try await databases.app.withPlatformSweep { connection in
                let tenants = try await connection.values(
                    "SELECT DISTINCT tenant_id FROM vendors WHERE payouts_enabled AND tenant_id IN (\(a.id), \(b.id))",
                    as: UUID.self
                )
                for tenant in tenants {
                    try await Outbox.enqueue(on: connection, job: self.job(for: tenant, kind: "payouts.vendor"))
                }
            }
            let delivered = Recorder<OutboxJob>()
            let relay = OutboxRelay(database: databases.app) { jobs in delivered.append(contentsOf: jobs) }
            try await relay.relayBatch()
            XCTAssertEqual(Set(delivered.all.compactMap(\.tenant)), [a.id, b.id])
        }
    }

    func testEnqueueingOneJobIDTwiceKeepsOneRow() async throws {
        try await withTestDatabases { databases in
            try await clearOutbox(databases.app)
            let job = job(for: nil, kind: "diagnostics.record")
            let added = try await databases.app.withoutTenant { connection in
                [try await Outbox.enqueue(on: connection, job: job), try await Outbox.enqueue(on: connection, job: job)]
            }
            XCTAssertEqual(added, [true, false])
            let waiting = try await waitingJobIDs(databases.app)
            XCTAssertEqual(waiting, [job.jobID])
        }
    }
}
