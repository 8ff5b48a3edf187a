import CityOSTesting
import Foundation
import Jobs
import Queue
import Synchronization
import XCTest

/// The inbox the webhook job keeps around every dispatch: each event stored once per (source,
/// event id) with its outcome, counted in metrics and shown to operators — through the real
/// ingress and real workers.
final class InboxTests: XCTestCase {
    /// Handlers of the test's own: `test.done` is processed, `test.broken` fails for good (as a
    /// handler does for an event missing a field), every run counted.
    final class Probe: WebhookEventHandler {
        let runs = Mutex(0)
        func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
            runs.withLock { $0 += 1 }
            if event.type == "test.broken" { throw JobFailure.permanent("\(event.type): the event has no data.id") }
            return .processed
        }
    }

    func testEachEventIsStoredOnceAsProcessedIgnoredOrFailedCountedAndShownToOperators() async throws {
        let probe = Probe()
        try await DispatchWorld.run(dispatch: { _, _ in
            var dispatch = WebhookDispatch()
            dispatch.on("medusa", ["test.done", "test.broken"], probe)
            return dispatch
        }) { world in
            let tenant = try await world.makeTenant()
            let before = (world.outcomeCount("medusa", "processed"), world.outcomeCount("medusa", "ignored"),
                          world.outcomeCount("medusa", "failed"))
            let suffix = UUID().uuidString
            let (done, unknown, broken) = ("evt_done_" + suffix, "evt_unknown_" + suffix, "evt_broken_" + suffix)
            let tenantText = tenant.uuidString.lowercased()
            try await world.post(.medusa, ["id": done, "type": "test.done", "data": ["id": "x"], "tenant_id": tenantText])
            try await world.post(.medusa, ["id": unknown, "type": "order.returned_by_pigeon", "data": [:], "tenant_id": tenantText])
            try await world.post(.medusa, ["id": broken, "type": "test.broken", "data": [:]])

            let processed = try await world.settled("medusa", done, as: "processed")
            XCTAssertEqual(processed, .init(type: "test.done", status: "processed", error: nil, attempts: 1, tenant: tenant))
            let ignored = try await world.settled("medusa", unknown, as: "ignored")
            XCTAssertEqual(ignored.error, nil)
            XCTAssertEqual(ignored.tenant, tenant)
            let failed = try await world.settled("medusa", broken, as: "failed")
            XCTAssertEqual(failed.tenant, nil, "an event naming no tenant is a platform row")
            XCTAssertTrue(failed.error?.contains("has no data.id") == true, String(describing: failed.error))
            // A permanent failure is a dead letter with the same reason.
            try await eventually("the broken event to be dead-lettered") {
                try await world.queue.queue("webhooks")?.dead == 1
            }

            XCTAssertEqual(world.outcomeCount("medusa", "processed") - before.0, 1)
            XCTAssertEqual(world.outcomeCount("medusa", "ignored") - before.1, 1)
            XCTAssertEqual(world.outcomeCount("medusa", "failed") - before.2, 1)
            XCTAssertEqual(probe.runs.withLock { $0 }, 2, "the handlers ran for their two types only")

            let exposition = try await world.request("GET", "http://127.0.0.1:\(world.ingressPort)/metrics").text
            for outcome in ["processed", "ignored", "failed"] {
                XCTAssertTrue(exposition.contains(#"cityos_webhook_events_total{source="medusa",outcome="\#(outcome)"} 1"#)
                              || exposition.contains(#"cityos_webhook_events_total{outcome="\#(outcome)",source="medusa"} 1"#),
                              "\(outcome) counted once on /metrics:\n\(exposition.split(separator: "\n").filter { $0.contains("webhook_events") })")
            }

            let report = try await world.ops("/v1/webhooks/inbox?status=failed&limit=500")
            XCTAssertEqual(report.status, 200, report.text)
            let counts = try XCTUnwrap(report.json?["counts"] as? [String: Int])
            XCTAssertGreaterThanOrEqual(counts["failed"] ?? 0, 1)
            XCTAssertGreaterThanOrEqual(counts["ignored"] ?? 0, 1)
            let events = try XCTUnwrap(report.json?["events"] as? [[String: Any]])
            XCTAssertTrue(events.allSatisfy { $0["status"] as? String == "failed" })
            let shown = try XCTUnwrap(events.first { $0["event_id"] as? String == broken })
            XCTAssertTrue((shown["error"] as? String)?.contains("has no data.id") == true)
            let bad = try await world.ops("/v1/webhooks/inbox?status=exploded")
            XCTAssertEqual(bad.status, 400)
        }
    }

    /// Two jobs for one event open its row before either settles it (a replay, a recovered job):
    /// one handles it; the other's later failure must not make the handled event look unhandled.
    func testAFailureOfASecondJobDoesNotUnsettleAHandledEvent() async throws {
        try await DispatchWorld.run { world in
            let inbox = WebhookInbox(database: world.app)
            let eventID = "evt_overlap_" + UUID().uuidString
            let event = WebhookEventArguments(source: "medusa", eventID: eventID, type: "test.overlap",
                                              payload: .object(["id": .string(eventID)]), receivedAt: 1_700_000_000_000)
            let logger = DispatchWorld.logger
            _ = try await inbox.open(event, tenant: nil, logger: logger)
            _ = try await inbox.open(event, tenant: nil, logger: logger)
            try await inbox.close(event, tenant: nil, outcome: .processed, logger: logger)
            try await inbox.close(event, tenant: nil, outcome: .failed, error: "the second job's handler failed", logger: logger)
            let row = try await world.inbox("medusa", eventID)
            XCTAssertEqual(row?.status, "processed", "handled stays handled")
        }
    }

    func testAnEventTheInboxHoldsAsProcessedIsNotHandledAgainWhicheverJobDeliversIt() async throws {
        let probe = Probe()
        try await DispatchWorld.run(dispatch: { _, _ in
            var dispatch = WebhookDispatch()
            dispatch.on("medusa", ["test.done"], probe)
            return dispatch
        }) { world in
            let eventID = "evt_again_" + UUID().uuidString
            let event: [String: Any] = ["id": eventID, "type": "test.done", "data": ["id": "x"]]
            // Three deliveries of one event: the ingress stores one job.
            let first = try await world.post(.medusa, event)
            try await world.post(.medusa, event)
            try await world.post(.medusa, event)
            try await world.settled("medusa", eventID, as: "processed")
            // A job for the same event that the ingress's 7-day key no longer prevents (an
            // operator's replay, a key lost with a Redis failover): the inbox settles it.
            let again = try await world.queue.client.enqueue(
                kind: "webhook.medusa",
                args: .object(["source": .string("medusa"), "event_id": .string(eventID), "type": .string("test.done"),
                               "payload": try JSONValue.from(["id": eventID]), "received_at": .number(1_700_000_000_000)]),
                options: .init(queue: "webhooks"))
            XCTAssertNotEqual(again.id, first.json?["job_id"] as? String)
            try await eventually("the second job to finish") { world.queue.events.succeeded(again.id) }
            XCTAssertEqual(probe.runs.withLock { $0 }, 1, "the handler ran once")
            let row = try await world.inbox("medusa", eventID)
            XCTAssertEqual(row?.status, "processed")
            XCTAssertEqual(row?.attempts, 2, "both jobs opened the row; one ran the handler")
        }
    }
}
