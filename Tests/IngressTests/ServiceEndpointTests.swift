import CityOSTesting
import Foundation
import Ingress
import Queue
import Synchronization
import Yams
import XCTest

/// Health, readiness, metrics, the OpenAPI document, the dashboard and unknown routes.
final class ServiceEndpointTests: XCTestCase {
    var harness: IngressHarness!

    override func tearDown() async throws {
        await harness?.stop()
    }

    func testHealthAndReadiness() async throws {
        harness = try await IngressHarness.start()
        let health = try await harness.request(.GET, "/healthz")
        XCTAssertEqual(health.status, 200)
        let ready = try await harness.request(.GET, "/readyz")
        XCTAssertEqual(ready.status, 200, ready.text)
        XCTAssertEqual(ready.json?["status"] as? String, "ready")
    }

    func testReadinessFailsWhenAnyNamedCheckFails() async throws {
        struct Down: Error {}
        let redis = try TestRedisClient.make()
        harness = try await IngressHarness.start(readinessChecks: [
            .redis(redis), ReadinessCheck(name: "postgres") { throw Down() },
        ])
        let ready = try await harness.request(.GET, "/readyz")
        XCTAssertEqual(ready.status, 503)
        XCTAssertEqual(ready.errorCode, "not_ready")
        let checks = ready.json?["checks"] as? [[String: Any]] ?? []
        XCTAssertEqual(checks.map { $0["name"] as? String }, ["redis", "postgres"])
        XCTAssertEqual(checks.map { $0["ok"] as? Bool }, [true, false])
        redis.shutdown()
    }

    /// A check deaf to cancellation (a query on a connection whose packets vanish) does not hold
    /// `/readyz` past its 2-second deadline: it answers 503 naming the check.
    func testReadinessAnswersByItsDeadlineWhenACheckNeverReturns() async throws {
        let redis = try TestRedisClient.make()
        harness = try await IngressHarness.start(readinessChecks: [
            .redis(redis),
            ReadinessCheck(name: "postgres") {
                // Deaf to cancellation: a detached wait is not cancelled with the check's task.
                await Task.detached { try? await Task.sleep(for: .seconds(20)) }.value
            },
        ])
        let start = ContinuousClock.now
        let ready = try await harness.request(.GET, "/readyz")
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(10), "answered by the deadline, not when the check returned")
        XCTAssertEqual(ready.status, 503)
        let checks = ready.json?["checks"] as? [[String: Any]] ?? []
        XCTAssertEqual(checks.map { $0["ok"] as? Bool }, [true, false])
        XCTAssertTrue((checks.last?["error"] as? String)?.contains("no answer within") == true, ready.text)
        redis.shutdown()
    }

    func testAWebhookInboxThatCannotBeReadIs503WithRetryAfterNot500() async throws {
        struct ConnectionRefused: Error {}
        harness = try await IngressHarness.start(webhookInbox: { _, _, _ in throw ConnectionRefused() })
        let answer = try await harness.ops(.GET, "/v1/webhooks/inbox")
        XCTAssertEqual(answer.status, 503, answer.text)
        XCTAssertEqual(answer.errorCode, "unavailable")
        XCTAssertTrue(answer.text.contains("could not be read from PostgreSQL"), answer.text)
        XCTAssertEqual(answer.headers.first(name: "Retry-After"), "5")
    }

    func testMetricsCountRequestsJobsAndQueueDepths() async throws {
        harness = try await IngressHarness.start()
        let body = Signer.stripeEvent(id: "evt_metrics")
        _ = try await harness.request(.POST, "/webhooks/stripe", body: body,
                                      headers: [("Stripe-Signature", Signer.timestamped(body, secret: "whsec_stripe_test"))])
        _ = try await harness.request(.POST, "/webhooks/stripe", body: body, headers: [("Stripe-Signature", "t=1,v1=00")])
        let metrics = try await harness.request(.GET, "/metrics")
        XCTAssertEqual(metrics.status, 200)
        let text = metrics.text
        for expected in [
            #"cityos_http_requests_total{route="/webhooks/{source}",method="POST",status="202"} 1"#,
            #"cityos_http_requests_total{route="/webhooks/{source}",method="POST",status="400"} 1"#,
            #"cityos_jobs_enqueued_total{queue="webhooks",kind="webhook.stripe"} 1"#,
            #"cityos_webhooks_total{source="stripe",result="accepted"} 1"#,
            #"cityos_webhooks_total{source="stripe",result="rejected"} 1"#,
            #"cityos_queue_depth{queue="webhooks",state="ready"} 1"#,
            #"cityos_queue_workers{queue="webhooks"} 0"#,   // no worker process in this test
            "cityos_http_request_duration_seconds_bucket",
            "cityos_redis_up 1",
        ] {
            XCTAssertTrue(text.contains(expected), "missing \(expected) in:\n\(text)")
        }
    }

    /// Gauges a process hands in (the schedules') are read at each scrape: a series gone from the
    /// reading leaves the exposition, and a reading that fails leaves them all out with `…_up 0`.
    func testHandedInGaugesAreReadAtEachScrapeAndLeftOutWhenTheyCannotBe() async throws {
        struct Unreadable: Error {}
        let scrape = Mutex(0)
        let gauges = HandedInGauges(group: "test", upGauge: "cityos_test_up", upHelp: "1 if the test's gauges read.") {
            let n = scrape.withLock { n in
                n += 1
                return n
            }
            if n == 3 { throw Unreadable() }
            let first = [GaugeReading("cityos_test_gauge", "A test gauge.", [.init("name", "a")], 1),
                         GaugeReading("cityos_test_gauge", "A test gauge.", [.init("name", "b")], 2)]
            return n == 1 ? first : [GaugeReading("cityos_test_gauge", "A test gauge.", [.init("name", "a")], 5)]
        }
        harness = try await IngressHarness.start(handedInGauges: gauges)
        let one = try await harness.request(.GET, "/metrics").text
        for line in [#"cityos_test_gauge{name="a"} 1.0"#, #"cityos_test_gauge{name="b"} 2.0"#, "cityos_test_up 1.0",
                     "cityos_redis_up 1"] {
            XCTAssertTrue(one.contains(line), "missing \(line) in:\n\(one)")
        }
        let two = try await harness.request(.GET, "/metrics").text
        XCTAssertTrue(two.contains(#"cityos_test_gauge{name="a"} 5.0"#), two)
        XCTAssertFalse(two.contains(#"name="b""#), "a series gone from the reading is gone from the exposition:\n\(two)")
        let three = try await harness.request(.GET, "/metrics").text
        XCTAssertFalse(three.contains("cityos_test_gauge{"), "no value of the last scrape served as if current:\n\(three)")
        XCTAssertTrue(three.contains("cityos_test_up 0.0"), three)
        XCTAssertTrue(three.contains(#"cityos_queue_depth{queue="#) || three.contains("cityos_redis_up 1"),
                      "the queues' gauges are read apart:\n\(three)")
    }

    /// With Redis down the handed-in gauges (which read Redis too) are not read at all: a second
    /// wait for Redis could outlast the scraper's timeout and lose the scrape that says so.
    func testHandedInGaugesAreNotReadWhileRedisIsDown() async throws {
        let reads = Mutex(0)
        let gauges = HandedInGauges(group: "test", upGauge: "cityos_test_up", upHelp: "1 if the test's gauges read.") {
            reads.withLock { $0 += 1 }
            return [GaugeReading("cityos_test_gauge", "A test gauge.", [], 1)]
        }
        harness = try await IngressHarness.start(handedInGauges: gauges, redisURL: "redis://127.0.0.1:1")
        let text = try await harness.request(.GET, "/metrics").text
        XCTAssertTrue(text.contains("cityos_redis_up 0.0") && text.contains("cityos_test_up 0.0"), text)
        XCTAssertEqual(reads.withLock { $0 }, 0)
    }

    func testJobOutcomesFromTheWorkerPoolAreCounted() async throws {
        let metrics = IngressMetrics()
        let job = JobEnvelopeFixture.make(kind: "diag.noop", queue: "default")
        metrics.observe(.succeeded(job.header, seconds: 0.02))
        metrics.observe(.retrying(job, error: "x", dueAt: 0))
        metrics.observe(.dead(job, reason: "x"))
        let text = metrics.registry.emitToString()
        for expected in [
            #"cityos_jobs_processed_total{queue="default",kind="diag.noop"} 1"#,
            #"cityos_jobs_failed_total{queue="default",kind="diag.noop"} 2"#,
            #"cityos_jobs_dead_total{queue="default",kind="diag.noop"} 1"#,
            #"cityos_job_duration_seconds_count{queue="default",kind="diag.noop"} 1"#,
        ] {
            XCTAssertTrue(text.contains(expected), "missing \(expected) in:\n\(text)")
        }
    }

    func testOpenAPIDocumentDescribesExactlyTheRoutesTheServerAnswers() async throws {
        harness = try await IngressHarness.start(benchRoute: true)
        let answer = try await harness.request(.GET, "/openapi.yaml")
        XCTAssertEqual(answer.status, 200)
        let document = try XCTUnwrap(try Yams.load(yaml: answer.text) as? [String: Any])
        XCTAssertEqual((document["openapi"] as? String)?.hasPrefix("3."), true)
        let paths = try XCTUnwrap(document["paths"] as? [String: Any])
        let methods: Set = ["get", "put", "post", "delete", "patch", "head", "options"]
        var documented = Set<String>()
        for (path, item) in paths {
            for method in (item as? [String: Any] ?? [:]).keys where methods.contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        let served = Set(harness.server.routeDescriptions())
        XCTAssertEqual(served.subtracting(documented), [], "routes the server answers but the document does not describe")
        XCTAssertEqual(documented.subtracting(served), [], "routes the document describes but the server does not answer")
    }

    func testDashboardIsServedAndRootRedirectsToIt() async throws {
        harness = try await IngressHarness.start()
        let page = try await harness.request(.GET, "/dashboard")
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.headers.first(name: "Content-Type"), "text/html; charset=utf-8")
        XCTAssertTrue(page.text.contains("/v1/status"))
        XCTAssertTrue(page.text.contains("/v1/webhooks/inbox"), "the dashboard shows the webhook inbox")
        XCTAssertTrue(page.text.contains("body.checks"), "the dashboard shows the status checks (money.reconcile)")
        XCTAssertTrue(page.text.contains("/v1/schedules") && page.text.contains("running_schedulers")
                      && page.text.contains("missed_tick"), "the dashboard shows the schedules and their alerts")
        for call in [#"deadPath(q.name, "?limit=10")"#, #"send("POST", deadPath(q.name, "/retry-all"))"#,
                     #"send("POST", deadPath(list.queue, "/" + encodeURIComponent(entry.id) + "/retry"))"#,
                     #"send("DELETE", deadPath(list.queue, "/" + encodeURIComponent(entry.id) + "?died_at=" + entry.died_at))"#,
                     #""/jobs/" + encodeURIComponent(id)"#, #"send("POST", queuePath(q.name, "/pause"), reason ? { reason } : {})"#,
                     #"send("POST", queuePath(q.name, "/resume"))"#, "q.pause_reason",
                     #"queuePath(queue, "/jobs/" + encodeURIComponent(id) + "/cancel")"#, #"queuePath(q.name, "/scheduled?limit=10")"#,
                     #"send("POST", queuePath(list.queue, "/jobs/" + encodeURIComponent(entry.id) + "/run-now"))"#,
                     #"queuePath(q.name, "/running?limit=10")"#, "job.running_for_seconds",
                     #"send("POST", deadPath(queue, "/retry-all" + filter))"#] {
            XCTAssertTrue(page.text.contains(call),
                          "the dashboard lists dead letters, retries or deletes them, finds and cancels a job, lists and runs scheduled ones, pauses and resumes a queue, shows what runs: \(call)")
        }
        let root = try await harness.request(.GET, "/")
        XCTAssertEqual(root.status, 303)
        XCTAssertEqual(root.headers.first(name: "Location"), "/dashboard")
    }

    func testUnknownRoutesAreJSON404AndWrongMethodsJSON405() async throws {
        harness = try await IngressHarness.start()
        let answer = try await harness.request(.GET, "/nope")
        XCTAssertEqual(answer.status, 404)
        XCTAssertEqual(answer.errorCode, "not_found")
        let wrongMethod = try await harness.request(.GET, "/webhooks/stripe")
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.errorCode, "method_not_allowed")
        XCTAssertEqual(wrongMethod.headers.first(name: "Allow"), "POST")
        XCTAssertEqual(wrongMethod.json.flatMap { ($0["error"] as? [String: Any])?["message"] as? String },
                       "/webhooks/stripe takes POST, not GET; see /openapi.yaml")
    }

    func testBenchRouteExistsOnlyWhenEnabled() async throws {
        harness = try await IngressHarness.start()
        let off = try await harness.request(.POST, "/bench/noop")
        XCTAssertEqual(off.status, 404)
        await harness.stop()
        harness = try await IngressHarness.start(benchRoute: true)
        let on = try await harness.request(.POST, "/bench/noop")
        XCTAssertEqual(on.status, 202)
    }
}
