import CityOSTesting
import Foundation
import Ingress
import Jobs
import Logging
import Queue
import XCTest

/// `POST /webhooks/{source}` over real HTTP against the test Redis.
final class WebhookTests: XCTestCase {
    var harness: IngressHarness!

    override func setUp() async throws {
        harness = try await IngressHarness.start()
    }

    override func tearDown() async throws {
        await harness?.stop()
    }

    private func postStripe(_ body: [UInt8], signature: String?) async throws -> IngressHarness.Answer {
        var headers = [("Content-Type", "application/json")]
        if let signature { headers.append(("Stripe-Signature", signature)) }
        return try await harness.request(.POST, "/webhooks/stripe", body: body, headers: headers)
    }

    func testStripeSignedEventIsAcceptedAsOneJobCarryingTheEvent() async throws {
        let body = Signer.stripeEvent(id: "evt_1", tenant: "tenant-a")
        let answer = try await postStripe(body, signature: Signer.timestamped(body, secret: "whsec_stripe_test"))

        XCTAssertEqual(answer.status, 202, answer.text)
        let jobID = try XCTUnwrap(answer.json?["job_id"] as? String)
        XCTAssertEqual(answer.json?["duplicate"] as? Bool, false)
        let jobs = try await harness.storedWebhookJobs()
        XCTAssertEqual(jobs.count, 1)
        let job = try XCTUnwrap(jobs.first)
        XCTAssertEqual(job.id, jobID)
        XCTAssertEqual(job.kind, "webhook.stripe")
        XCTAssertEqual(job.queue, "webhooks")
        XCTAssertEqual(job.tenant, "tenant-a")
        XCTAssertEqual(job.args["source"], .string("stripe"))
        XCTAssertEqual(job.args["event_id"], .string("evt_1"))
        XCTAssertEqual(job.args["type"], .string("payment_intent.succeeded"))
        XCTAssertEqual(job.args["payload"], try JSONDecoder().decode(JSONValue.self, from: Data(body)))
        XCTAssertNotNil(job.args["received_at"]?.intValue)
        XCTAssertNotNil(job.trace)
        // The registered handler accepts what the ingress stored.
        let handler = try XCTUnwrap(JobCatalog.registry().handler(for: job.kind))
        try await handler.run(arguments: job.args, context: JobContext(envelope: job, logger: Logger(label: "test")))
    }

    func testSecondDeliveryOfTheSameEventCreatesNoSecondJob() async throws {
        let body = Signer.stripeEvent(id: "evt_dup")
        let first = try await postStripe(body, signature: Signer.timestamped(body, secret: "whsec_stripe_test"))
        let second = try await postStripe(body, signature: Signer.timestamped(body, secret: "whsec_stripe_test"))

        XCTAssertEqual(first.status, 202)
        XCTAssertEqual(second.status, 202, "a re-delivery is answered as a success")
        XCTAssertEqual(second.json?["job_id"] as? String, first.json?["job_id"] as? String)
        XCTAssertEqual(second.json?["duplicate"] as? Bool, true)
        let jobsCount = try await harness.storedWebhookJobs().count
        XCTAssertEqual(jobsCount, 1)
    }

    func testDeliveryAfterTheJobRanStillCreatesNoSecondJob() async throws {
        let body = Signer.stripeEvent(id: "evt_after_run")
        let first = try await postStripe(body, signature: Signer.timestamped(body, secret: "whsec_stripe_test"))
        XCTAssertEqual(first.status, 202)
        // Run the job with a real worker pool, then deliver again.
        let processed = try await WorkerRun.untilProcessed(1, harness: harness, queue: "webhooks")
        XCTAssertEqual(processed, 1)
        let afterRun = try await harness.storedWebhookJobs().count
        XCTAssertEqual(afterRun, 0, "a processed job leaves the jobs hash")

        let again = try await postStripe(body, signature: Signer.timestamped(body, secret: "whsec_stripe_test"))
        XCTAssertEqual(again.status, 202)
        XCTAssertEqual(again.json?["duplicate"] as? Bool, true)
        XCTAssertEqual(again.json?["job_id"] as? String, first.json?["job_id"] as? String)
        let afterRedelivery = try await harness.storedWebhookJobs().count
        XCTAssertEqual(afterRedelivery, 0)
    }

    func testTheDedupeWindowIsWebhooksDedupeHours() async throws {
        // (harness, window) — the default, then one set as `webhooks.dedupe_hours` would.
        let shortened = try await IngressHarness.start(webhookDedupeSeconds: 3600)
        for (server, window) in [(harness!, 7 * 86_400), (shortened, 3600)] {
            let body = Signer.stripeEvent(id: "evt_window_\(window)")
            var headers = [("Content-Type", "application/json")]
            headers.append(("Stripe-Signature", Signer.timestamped(body, secret: "whsec_stripe_test")))
            let answer = try await server.request(.POST, "/webhooks/stripe", body: body, headers: headers)
            XCTAssertEqual(answer.status, 202, answer.text)
            let key = "\(server.webhookKeys.prefix)uniq:webhook:stripe:evt_window_\(window)"
            let ttl = try await server.queue.redis.send("TTL", .string(key)).int ?? -2
            XCTAssertTrue((window - 60)...window ~= ttl, "\(key): TTL \(ttl) s, expected about \(window) s")
        }
        await shortened.stop()
    }

    func testForgedSignatureIsRefusedAndNothingIsEnqueued() async throws {
        let body = Signer.stripeEvent(id: "evt_forged")
        let answer = try await postStripe(body, signature: Signer.timestamped(body, secret: "not-the-secret"))
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(answer.errorCode, "bad_signature")
        let keys = try await harness.keyCount()
        XCTAssertEqual(keys, 0, "nothing may reach Redis")
    }

    func testTamperedBodyIsRefused() async throws {
        let body = Signer.stripeEvent(id: "evt_tampered")
        let signature = Signer.timestamped(body, secret: "whsec_stripe_test")
        let tampered = Signer.stripeEvent(id: "evt_tampered", type: "payout.paid")
        let answer = try await postStripe(tampered, signature: signature)
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(answer.errorCode, "bad_signature")
    }

    func testTimestampTenMinutesOldIsRefusedAndNothingIsEnqueued() async throws {
        let body = Signer.stripeEvent(id: "evt_stale")
        let tenMinutesAgo = Int(Date().timeIntervalSince1970) - 600
        let answer = try await postStripe(body, signature: Signer.timestamped(body, secret: "whsec_stripe_test", at: tenMinutesAgo))
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(answer.errorCode, "stale_timestamp")
        let keys = try await harness.keyCount()
        XCTAssertEqual(keys, 0)
    }

    func testMissingSignatureHeaderIsRefusedAndNothingIsEnqueued() async throws {
        let body = Signer.stripeEvent(id: "evt_unsigned")
        let answer = try await postStripe(body, signature: nil)
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(answer.errorCode, "bad_signature")
        let keys = try await harness.keyCount()
        XCTAssertEqual(keys, 0)
    }

    func testUnparsableSignatureHeadersAreRefused() async throws {
        let body = Signer.stripeEvent(id: "evt_garbage")
        let now = Int(Date().timeIntervalSince1970)
        for header in ["garbage", "t=\(now)", "v1=abcd", "t=soon,v1=00", "t=\(now),v0=\(String(repeating: "0", count: 64))"] {
            let answer = try await postStripe(body, signature: header)
            XCTAssertEqual(answer.status, 400, header)
            XCTAssertEqual(answer.errorCode, "bad_signature", header)
        }
    }

    func testAnyOfSeveralV1SignaturesMayMatchDuringSecretRotation() async throws {
        let body = Signer.stripeEvent(id: "evt_rotated")
        let time = Int(Date().timeIntervalSince1970)
        let good = Signer.timestamped(body, secret: "whsec_stripe_test", at: time)
        let old = Signer.timestamped(body, secret: "whsec_old", at: time)
        let header = "\(old),\(good.split(separator: ",")[1])"
        let answer = try await postStripe(body, signature: header)
        XCTAssertEqual(answer.status, 202, answer.text)
    }

    func testEverySourcesSchemeIsAcceptedAndReadsIDAndType() async throws {
        let platform = Array(#"{"id":"evt_m1","type":"product.created","data":{"id":"prod_1"},"tenant_id":"t1"}"#.utf8)
        let payload = Array(#"{"id":"evt_p1","type":"content.published","data":{"id":"page_1"}}"#.utf8)
        let fleet = Array(#"{"id":"event_f1","api_version":"v1","event":"order.completed","created_at":"2025-01-01","data":{"id":"order_1"}}"#.utf8)
        let erp = Array(#"{"doctype":"Sales Invoice","name":"SINV-0001","event":"on_submit","modified":"2025-01-01 10:00:00.000","data":{"grand_total":100}}"#.utf8)
        let cases: [(String, [UInt8], (String, String), String, String)] = [
            ("medusa", platform, ("CityOS-Signature", Signer.timestamped(platform, secret: "medusa-secret")), "evt_m1", "product.created"),
            ("payload", payload, ("CityOS-Signature", Signer.timestamped(payload, secret: "payload-secret")), "evt_p1", "content.published"),
            ("fleetbase", fleet, ("Signature", Signer.hexBody(fleet, secret: "fleetbase-secret")), "event_f1", "order.completed"),
            ("erpnext", erp, ("X-Frappe-Webhook-Signature", Signer.base64Body(erp, secret: "erpnext-secret")),
             "Sales Invoice:SINV-0001:on_submit:2025-01-01 10:00:00.000", "Sales Invoice.on_submit"),
        ]
        for (source, body, header, eventID, type) in cases {
            let answer = try await harness.request(.POST, "/webhooks/\(source)", body: body, headers: [header])
            XCTAssertEqual(answer.status, 202, "\(source): \(answer.text)")
            let jobID = try XCTUnwrap(answer.json?["job_id"] as? String)
            let job = try await harness.storedWebhookJobs().first { $0.id == jobID }
            XCTAssertEqual(job?.kind, "webhook.\(source)")
            XCTAssertEqual(job?.args["event_id"], .string(eventID), source)
            XCTAssertEqual(job?.args["type"], .string(type), source)
        }
        let wrongScheme = try await harness.request(.POST, "/webhooks/fleetbase", body: fleet,
                                                    headers: [("Signature", Signer.hexBody(fleet, secret: "medusa-secret"))])
        XCTAssertEqual(wrongScheme.status, 400)
    }

    func testUnknownSourceIs404() async throws {
        let answer = try await harness.request(.POST, "/webhooks/paypal", body: Array("{}".utf8))
        XCTAssertEqual(answer.status, 404)
        XCTAssertEqual(answer.errorCode, "unknown_source")
    }

    func testBodyOverOneMebibyteIs413() async throws {
        let body = Signer.stripeEvent(id: "evt_big", size: (1 << 20) + 1)
        let answer = try await postStripe(body, signature: Signer.timestamped(body, secret: "whsec_stripe_test"))
        XCTAssertEqual(answer.status, 413)
        XCTAssertEqual(answer.errorCode, "body_too_large")
        let keys = try await harness.keyCount()
        XCTAssertEqual(keys, 0)
    }

    func testMalformedJSONIs400() async throws {
        let body = Array(#"{"id":"evt_x","type":"#.utf8)
        let answer = try await postStripe(body, signature: Signer.timestamped(body, secret: "whsec_stripe_test"))
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(answer.errorCode, "malformed_json")
        let array = Array("[1,2]".utf8)
        let notObject = try await postStripe(array, signature: Signer.timestamped(array, secret: "whsec_stripe_test"))
        XCTAssertEqual(notObject.status, 400)
        XCTAssertEqual(notObject.errorCode, "malformed_json")
        // A number no Double holds: the worker could never read the event, so it is not accepted.
        let huge = Array(#"{"id":"evt_huge","type":"charge.succeeded","data":{"object":{"amount":1e400}}}"#.utf8)
        let outOfRange = try await postStripe(huge, signature: Signer.timestamped(huge, secret: "whsec_stripe_test"))
        XCTAssertEqual(outOfRange.status, 400)
        XCTAssertEqual(outOfRange.errorCode, "malformed_json")
        // A NUL character: PostgreSQL, where the worker keeps the event, cannot hold one, so it
        // would be answered 202 and die unhandled after every attempt.
        let nul = Array(#"{"id":"evt_nul","type":"charge.refunded","data":{"object":{"description":"a\u0000b"}}}"#.utf8)
        let withNUL = try await postStripe(nul, signature: Signer.timestamped(nul, secret: "whsec_stripe_test"))
        XCTAssertEqual(withNUL.status, 400)
        XCTAssertEqual(withNUL.errorCode, "malformed_json")
        XCTAssertTrue(withNUL.errorMessage?.contains("NUL") == true, withNUL.errorMessage ?? "")
        let keys = try await harness.keyCount()
        XCTAssertEqual(keys, 0, "nothing enqueued")
    }

    func testEventWithoutIDIs400() async throws {
        let body = Array(#"{"type":"payment_intent.succeeded"}"#.utf8)
        let answer = try await postStripe(body, signature: Signer.timestamped(body, secret: "whsec_stripe_test"))
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(answer.errorCode, "missing_field")
        let keys = try await harness.keyCount()
        XCTAssertEqual(keys, 0)
    }

    func testSourceWithoutSecretIs503NotConfigured() async throws {
        await harness.stop()
        harness = try await IngressHarness.start(secrets: [.stripe: "whsec_stripe_test"])
        let body = Array(#"{"id":"evt_m","type":"product.created"}"#.utf8)
        let answer = try await harness.request(.POST, "/webhooks/medusa", body: body,
                                               headers: [("CityOS-Signature", Signer.timestamped(body, secret: "x"))])
        XCTAssertEqual(answer.status, 503)
        XCTAssertEqual(answer.errorCode, "not_configured")
        XCTAssertNotNil(answer.headers.first(name: "Retry-After"))
    }

    func testRedisStoppedAnswers503AndServiceReturnsWhenRedisIsBack() async throws {
        let first = Signer.stripeEvent(id: "evt_before_outage")
        let stored = try await postStripe(first, signature: Signer.timestamped(first, secret: "whsec_stripe_test"))
        XCTAssertEqual(stored.status, 202, stored.text)
        let before = try await harness.request(.GET, "/metrics")
        XCTAssertTrue(before.text.contains("cityos_queue_depth{"), before.text)
        try await RedisServerControl.stop()
        do {
            // The queue gauges are left out while Redis cannot be read, not served stale.
            let metrics = try await harness.request(.GET, "/metrics")
            XCTAssertTrue(metrics.text.contains("cityos_redis_up 0"), metrics.text)
            XCTAssertFalse(metrics.text.contains("cityos_queue_depth{"), "stale queue depths served:\n\(metrics.text)")
            let body = Signer.stripeEvent(id: "evt_outage")
            let during = try await postStripe(body, signature: Signer.timestamped(body, secret: "whsec_stripe_test"))
            XCTAssertEqual(during.status, 503, during.text)
            XCTAssertEqual(during.errorCode, "unavailable")
            XCTAssertTrue(during.text.contains("same request"), "the answer says to send the same delivery again: \(during.text)")
            XCTAssertNotNil(during.headers.first(name: "Retry-After"))
            let ready = try await harness.request(.GET, "/readyz")
            XCTAssertEqual(ready.status, 503)
        } catch {
            try await RedisServerControl.start()
            throw error
        }
        try await RedisServerControl.start()

        let body = Signer.stripeEvent(id: "evt_outage")
        let after = try await postStripe(body, signature: Signer.timestamped(body, secret: "whsec_stripe_test"))
        XCTAssertEqual(after.status, 202, after.text)
        XCTAssertEqual(after.json?["duplicate"] as? Bool, false, "nothing was stored during the outage")
        let ready = try await harness.request(.GET, "/readyz")
        XCTAssertEqual(ready.status, 200)
        let metrics = try await harness.request(.GET, "/metrics")
        XCTAssertTrue(metrics.text.contains("cityos_queue_depth{"), "the gauges are back with Redis:\n\(metrics.text)")
    }
}
