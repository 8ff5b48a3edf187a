import CityOSTesting
import Foundation
import Jobs
import PostgresNIO
import Queue
import Store
import Synchronization
import XCTest

/// Retention of the webhook inbox (`webhooks.prune`): settled rows past the retention are deleted
/// tenant by tenant in batches, `failed` and recent rows are kept, and row-level security lets each
/// transaction delete only its own scope's settled rows. Rows are aged by inserting them with old
/// timestamps (the database's clock decides the cutoff); event ids are unique across runs, since
/// the test database keeps its rows.
final class InboxRetentionTests: XCTestCase {
    func testSettledRowsPastTheRetentionAreDeletedTenantByTenantAndFailedOrRecentOnesAreKept() async throws {
        try await DispatchWorld.run(workers: false) { world in
            let (a, b) = (try await world.makeTenant(), try await world.makeTenant())
            let aOld = [try await world.inboxRow(a, "processed", daysOld: 40), try await world.inboxRow(a, "ignored", daysOld: 31)]
            let aKept = [try await world.inboxRow(a, "processed", daysOld: 29), try await world.inboxRow(a, "failed", daysOld: 40),
                         try await world.inboxRow(a, "received", daysOld: 40)]
            var bOld: [String] = []
            for _ in 0..<5 { bOld.append(try await world.inboxRow(b, "processed", daysOld: 60)) }
            let bKept = [try await world.inboxRow(b, "failed", daysOld: 60)]
            let platformOld = try await world.inboxRow(nil, "ignored", daysOld: 40)
            let platformKept = try await world.inboxRow(nil, "failed", daysOld: 40)

            // Batches of 2: A's two rows take two DELETEs (the second finds none), B's five take three.
            let pruning = WebhookInboxPruning(database: world.app, batchSize: 2)
            let notes = Mutex<[String]>([])
            let first = try await pruning.run(olderThanDays: 30, logger: DispatchWorld.logger) { note in
                notes.withLock { $0.append(note) }
            }
            let reported = notes.withLock { $0 }
            XCTAssertGreaterThanOrEqual(reported.count, 3, "a note per owner pruned (A, B, the tenant-less rows)")
            XCTAssertEqual(reported.last, "\(reported.count) of \(reported.count) owners pruned, \(first.total) rows deleted")
            XCTAssertEqual(first.tenants[a], 2)
            XCTAssertEqual(first.tenants[b], 5)
            XCTAssertGreaterThanOrEqual(first.platformRows, 1)
            XCTAssertGreaterThanOrEqual(first.batches, 2 + 3 + 1)
            XCTAssertEqual(first.total, first.tenants.values.reduce(0, +) + first.platformRows)

            for id in aOld + bOld + [platformOld] { try await world.assertInbox(id, exists: false) }
            for id in aKept + bKept + [platformKept] { try await world.assertInbox(id, exists: true) }

            let second = try await pruning.run(olderThanDays: 30, logger: DispatchWorld.logger)
            XCTAssertEqual(second.total, 0, "a second run finds nothing left to delete: \(second)")
            XCTAssertEqual(second.tenants, [:])
        }
    }

    func testATenantsRunDeletesThatTenantsRowsOnly() async throws {
        try await DispatchWorld.run(workers: false) { world in
            let (a, b) = (try await world.makeTenant(), try await world.makeTenant())
            let aOld = try await world.inboxRow(a, "processed", daysOld: 40)
            let bOld = try await world.inboxRow(b, "processed", daysOld: 40)
            let platformOld = try await world.inboxRow(nil, "processed", daysOld: 40)
            let pruning = WebhookInboxPruning(database: world.app)

            let onlyA = try await pruning.run(olderThanDays: 30, tenant: a, logger: DispatchWorld.logger)
            XCTAssertEqual(onlyA.tenants, [a: 1])
            XCTAssertEqual(onlyA.platformRows, 0, "a tenant's run leaves the tenant-less rows alone")
            try await world.assertInbox(aOld, exists: false)
            try await world.assertInbox(bOld, exists: true)
            try await world.assertInbox(platformOld, exists: true)

            let onlyB = try await pruning.run(olderThanDays: 30, tenant: b, logger: DispatchWorld.logger)
            XCTAssertEqual(onlyB.tenants, [b: 1])
            try await world.assertInbox(bOld, exists: false)
            try await world.assertInbox(platformOld, exists: true)
        }
    }

    func testRowLevelSecurityLetsATransactionDeleteOnlyItsOwnScopesSettledRows() async throws {
        try await DispatchWorld.run(workers: false) { world in
            let (a, b) = (try await world.makeTenant(), try await world.makeTenant())
            let aFailed = try await world.inboxRow(a, "failed", daysOld: 40)
            let aReceived = try await world.inboxRow(a, "received", daysOld: 40)
            let bProcessed = try await world.inboxRow(b, "processed", daysOld: 40)
            let platformProcessed = try await world.inboxRow(nil, "processed", daysOld: 40)
            let aProcessed = try await world.inboxRow(a, "processed", daysOld: 0)
            let all = [aFailed, aReceived, bProcessed, platformProcessed, aProcessed]

            // Tenant A, deleting every one of them by id: only its own settled row goes.
            let deletedByA = try await world.app.withTenant(a) { try await InboxRows.delete(all, on: $0) }
            XCTAssertEqual(deletedByA, 1)
            try await world.assertInbox(aProcessed, exists: false)
            for id in [aFailed, aReceived, bProcessed, platformProcessed] { try await world.assertInbox(id, exists: true) }

            // No tenant set: the tenant-less settled row only.
            let deletedWithoutTenant = try await world.app.withoutTenant { try await InboxRows.delete(all, on: $0) }
            XCTAssertEqual(deletedWithoutTenant, 1)
            try await world.assertInbox(platformProcessed, exists: false)
            try await world.assertInbox(bProcessed, exists: true)

            // The platform sweep reads every tenant's rows and may delete none.
            do {
                _ = try await world.app.withPlatformSweep { try await InboxRows.delete(all, on: $0) }
                XCTFail("a platform sweep deleted from the inbox")
            } catch {
                XCTAssertEqual(PostgresServerMessage(error).sqlState, "42501", String(describing: error))
            }
            try await world.assertInbox(bProcessed, exists: true)
        }
    }

    /// Handlers of the test's own: `test.done` is processed, every run counted.
    final class Probe: WebhookEventHandler {
        let runs = Mutex(0)
        func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
            runs.withLock { $0 += 1 }
            return .processed
        }
    }

    func testThePruneJobKeepsRowsWithinTheRetentionAndAPrunedEventDeliveredAgainIsHandledAgain() async throws {
        let probe = Probe()
        try await DispatchWorld.run(dispatch: { _, _ in
            var dispatch = WebhookDispatch()
            dispatch.on("medusa", ["test.done"], probe)
            return dispatch
        }) { world in
            let tenant = try await world.makeTenant()
            let eventID = "evt_retained_" + UUID().uuidString
            let event: [String: Any] = ["id": eventID, "type": "test.done", "data": ["id": "x"],
                                        "tenant_id": tenant.uuidString.lowercased()]
            try await world.post(.medusa, event)
            try await world.settled("medusa", eventID, as: "processed")
            try await world.age(eventID, tenant: tenant, days: 10)

            // The catalog's retention (30 days) keeps a 10-day-old row; `older_than_days: 7` does not.
            try await world.prune(["tenant_id": .string(tenant.uuidString.lowercased())])
            try await world.assertInbox(eventID, exists: true)
            try await world.prune(["tenant_id": .string(tenant.uuidString.lowercased()), "older_than_days": .number(7)])
            try await world.assertInbox(eventID, exists: false)

            // A delivery after the row is gone (the ingress's 7-day key long expired) is a new event.
            let again = try await world.queue.client.enqueue(
                kind: "webhook.medusa",
                args: .object(["source": .string("medusa"), "event_id": .string(eventID), "type": .string("test.done"),
                               "payload": try JSONValue.from(["id": eventID]), "received_at": .number(1_700_000_000_000)]),
                options: .init(queue: "webhooks", tenant: tenant.uuidString.lowercased()))
            try await eventually("the redelivery to finish") { world.queue.events.succeeded(again.id) }
            XCTAssertEqual(probe.runs.withLock { $0 }, 2, "the handler ran again: handlers must be idempotent by business keys")
        }
    }

    func testARunWithABadRetentionFailsForGoodSayingSo() async throws {
        try await DispatchWorld.run { world in
            let receipt = try await world.queue.client.enqueue(
                kind: WebhookPruneJob.kind, args: .object(["older_than_days": .number(0)]), options: .init(queue: "webhooks"))
            try await eventually("the run to be dead-lettered") { world.queue.events.deadReason(receipt.id) != nil }
            let reason = try XCTUnwrap(world.queue.events.deadReason(receipt.id))
            XCTAssertTrue(reason.contains("older_than_days must be 1...3650, got 0"), reason)
        }
    }
}

/// Deleting inbox rows by event id, as whatever scope the transaction is in.
enum InboxRows {
    static func delete(_ eventIDs: [String], on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.query("""
            WITH gone AS (DELETE FROM webhook_inbox WHERE external_id = ANY(\(eventIDs)) RETURNING 1)
            SELECT count(*)::int8 FROM gone
            """, logger: DispatchWorld.logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }
}

extension DispatchWorld {
    /// Inserts a `medusa` inbox row of `tenant` (nil: a tenant-less row) in `status`, last updated
    /// `daysOld` days ago by the database's clock; returns its event id (unique across runs).
    func inboxRow(_ tenant: UUID?, _ status: String, daysOld: Int) async throws -> String {
        let eventID = "evt_prune_\(status)_" + UUID().uuidString
        let insert: PostgresQuery = """
            INSERT INTO webhook_inbox (source, external_id, type, payload, tenant_id, status, attempts, received_at, updated_at,
                                       processed_at)
            SELECT 'medusa', \(eventID), 'test.retention', '{}'::jsonb, \(tenant), \(status), 1, t, t,
                   CASE WHEN \(status) IN ('processed', 'ignored') THEN t END
            FROM (SELECT now() - make_interval(days => \(daysOld)::int) AS t) AS at
            """
        if let tenant {
            try await app.withTenant(tenant) { try await $0.query(insert, logger: Self.logger) }
        } else {
            try await app.withoutTenant { try await $0.query(insert, logger: Self.logger) }
        }
        return eventID
    }

    /// Makes the event's row look `days` days older (as its tenant).
    func age(_ eventID: String, tenant: UUID, days: Int) async throws {
        try await app.withTenant(tenant) { connection in
            try await connection.query("""
                UPDATE webhook_inbox SET updated_at = updated_at - make_interval(days => \(days)::int)
                WHERE source = 'medusa' AND external_id = \(eventID)
                """, logger: Self.logger)
        }
    }

    /// Runs `webhooks.prune` with `args` on the workers (queue `webhooks`, which they serve) to the end.
    func prune(_ args: [String: JSONValue]) async throws {
        let receipt = try await queue.client.enqueue(kind: WebhookPruneJob.kind, args: .object(args),
                                                     options: .init(queue: "webhooks"))
        try await eventually("webhooks.prune \(args) to finish; dead: \(String(describing: queue.events.deadReason(receipt.id)))") {
            self.queue.events.succeeded(receipt.id)
        }
    }

    func assertInbox(_ eventID: String, exists: Bool, file: StaticString = #filePath, line: UInt = #line) async throws {
        let row = try await inbox("medusa", eventID)
        XCTAssertEqual(row != nil, exists, "\(eventID) should \(exists ? "be kept" : "be deleted")", file: file, line: line)
    }
}
