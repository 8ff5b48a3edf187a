import CityOSTesting
import Foundation
import Ingress
import Queue
import XCTest

/// `/v1/*` over real HTTP: the bearer token, enqueue, status, job lookup and dead-letter operations.
final class OpsAPITests: XCTestCase {
    var harness: IngressHarness!

    override func setUp() async throws {
        harness = try await IngressHarness.start()
    }

    override func tearDown() async throws {
        await harness?.stop()
    }

    func testV1NeedsTheOpsToken() async throws {
        let missing = try await harness.request(.GET, "/v1/status")
        XCTAssertEqual(missing.status, 401)
        XCTAssertEqual(missing.errorCode, "unauthorized")
        let wrong = try await harness.request(.GET, "/v1/status", headers: [("Authorization", "Bearer nope")])
        XCTAssertEqual(wrong.status, 401)
        let basic = try await harness.request(.GET, "/v1/status", headers: [("Authorization", IngressHarness.opsToken)])
        XCTAssertEqual(basic.status, 401)
        let right = try await harness.ops(.GET, "/v1/status")
        XCTAssertEqual(right.status, 200)
    }

    func testV1WithoutAConfiguredTokenIs503NotConfigured() async throws {
        await harness.stop()
        harness = try await IngressHarness.start(opsToken: nil)
        let answer = try await harness.request(.GET, "/v1/status", headers: [("Authorization", "Bearer ")])
        XCTAssertEqual(answer.status, 503)
        XCTAssertEqual(answer.errorCode, "not_configured")
    }

    func testEnqueueByKindAnswers202WithTheJobID() async throws {
        let answer = try await harness.ops(.POST, "/v1/jobs", json: #"{"kind":"diag.sleep","args":{"ms":5},"tenant":"t1","delay_seconds":30}"#)
        XCTAssertEqual(answer.status, 202, answer.text)
        let id = try XCTUnwrap(answer.json?["job_id"] as? String)
        let keys = QueueKeys(queue: "default", namespace: harness.queue.namespace)
        let stored = try await harness.queue.redis.send("HGET", .string(keys.jobs), .string(id))
        let envelope = try JobEnvelope.decode(try XCTUnwrap(stored.bytes))
        XCTAssertEqual(envelope.kind, "diag.sleep")
        XCTAssertEqual(envelope.tenant, "t1")
        XCTAssertNotNil(envelope.dueAt)
    }

    func testAJobForAQueueNoLiveWorkerTakesIsStoredWithAWarningSayingSo() async throws {
        let body = #"{"kind":"diag.noop","queue":"nobody-takes-this"}"#
        let unserved = try await harness.ops(.POST, "/v1/jobs", json: body)
        XCTAssertEqual(unserved.status, 202, unserved.text)
        XCTAssertNotNil(unserved.json?["job_id"] as? String)
        let warning = try XCTUnwrap(unserved.json?["warning"] as? String, unserved.text)
        XCTAssertTrue(warning.contains("no live worker process takes queue 'nobody-takes-this'"), warning)
        let waiting = try await harness.queue.queue("nobody-takes-this")
        XCTAssertEqual(waiting?.ready, 1, "stored all the same")

        let pool = harness.queue.makePool(queues: [("nobody-takes-this", 1)], concurrency: 1)
        let running = Task { try await pool.run() }
        try await eventually("the worker's heartbeat to register it") {
            (try? await self.harness.queue.status())?.processes.count == 1
        }
        let served = try await harness.ops(.POST, "/v1/jobs", json: body)
        XCTAssertEqual(served.status, 202, served.text)
        XCTAssertNil(served.json?["warning"], served.text)
        pool.stop()
        _ = try await running.value
    }

    func testUnknownKindAndUndecodableArgumentsAre422() async throws {
        let unknown = try await harness.ops(.POST, "/v1/jobs", json: #"{"kind":"no.such.kind"}"#)
        XCTAssertEqual(unknown.status, 422)
        XCTAssertEqual(unknown.errorCode, "unprocessable")
        let badArgs = try await harness.ops(.POST, "/v1/jobs", json: #"{"kind":"diag.sleep","args":{"ms":"soon"}}"#)
        XCTAssertEqual(badArgs.status, 422)
        XCTAssertEqual(badArgs.errorCode, "unprocessable")
        let keys = try await harness.keyCount()
        XCTAssertEqual(keys, 0)
    }

    func testMalformedEnqueueRequestsAre400() async throws {
        for (json, code) in [("{", "malformed_json"), (#"{"args":{}}"#, "missing_field"), (#"{"kind":7}"#, "bad_request"),
                             (#"{"kind":"diag.noop","delay_seconds":-1}"#, "bad_request"),
                             (#"{"kind":"diag.noop","queue":"no spaces"}"#, "bad_request")] {
            let answer = try await harness.ops(.POST, "/v1/jobs", json: json)
            XCTAssertEqual(answer.status, 400, json)
            XCTAssertEqual(answer.errorCode, code, json)
        }
    }

    func testTheSameIdempotencyKeyTwiceGivesTheFirstJobAndNoSecond() async throws {
        let json = #"{"kind":"diag.noop","idempotency_key":"nightly-2025-01-01"}"#
        let first = try await harness.ops(.POST, "/v1/jobs", json: json)
        let second = try await harness.ops(.POST, "/v1/jobs", json: json)
        XCTAssertEqual(first.status, 202)
        XCTAssertEqual(second.status, 202)
        XCTAssertEqual(second.json?["job_id"] as? String, first.json?["job_id"] as? String)
        XCTAssertEqual(second.json?["duplicate"] as? Bool, true)
        let keys = QueueKeys(queue: "default", namespace: harness.queue.namespace)
        let count = try await harness.queue.redis.send("HLEN", .string(keys.jobs)).int
        XCTAssertEqual(count, 1)
    }

    func testStatusIsWhatTheCLIPrints() async throws {
        _ = try await harness.ops(.POST, "/v1/jobs", json: #"{"kind":"diag.noop"}"#)
        let answer = try await harness.ops(.GET, "/v1/status")
        XCTAssertEqual(answer.status, 200)
        let status = try JSONDecoder().decode(QueueStatus.self, from: Data(answer.body))
        let queue = try XCTUnwrap(status.queues.first { $0.name == "default" })
        XCTAssertEqual(queue.ready, 1)
        XCTAssertEqual(queue.enqueued, 1)
    }

    func testAQueueIsPausedAndResumedWithItsReasonInTheStatusAndTheMetrics() async throws {
        let paused = try await harness.ops(.POST, "/v1/queues/payouts/pause", json: #"{"reason":"Stripe incident 4711"}"#)
        XCTAssertEqual(paused.status, 200, paused.text)
        XCTAssertEqual(paused.json?["paused"] as? Bool, true)
        XCTAssertEqual(paused.json?["reason"] as? String, "Stripe incident 4711")
        XCTAssertNotNil(paused.json?["paused_at"] as? Int)
        let status = try JSONDecoder().decode(QueueStatus.self, from: Data(try await harness.ops(.GET, "/v1/status").body))
        let queue = try XCTUnwrap(status.queues.first { $0.name == "payouts" }, "a paused queue is listed before its first job")
        XCTAssertTrue(queue.paused)
        XCTAssertEqual(queue.pauseReason, "Stripe incident 4711")
        let metrics = try await harness.request(.GET, "/metrics")
        XCTAssertTrue(metrics.text.contains(#"cityos_queue_paused{queue="payouts"} 1"#), metrics.text)

        // An empty body pauses too (and keeps the reason); a reason too long or not a string is refused.
        let again = try await harness.ops(.POST, "/v1/queues/payouts/pause")
        XCTAssertEqual(again.json?["reason"] as? String, "Stripe incident 4711")
        let long = try await harness.ops(.POST, "/v1/queues/mail/pause", json: #"{"reason":"\#(String(repeating: "x", count: 201))"}"#)
        XCTAssertEqual(long.status, 400)
        XCTAssertEqual(long.errorCode, "bad_request")
        XCTAssertTrue(long.text.contains("at most 200"), long.text)
        let notText = try await harness.ops(.POST, "/v1/queues/mail/pause", json: #"{"reason":["x"]}"#)
        XCTAssertEqual(notText.status, 400)
        XCTAssertTrue(notText.text.contains("'reason' must be a string"), notText.text)
        let broken = try await harness.ops(.POST, "/v1/queues/mail/pause", json: #"{"reason":"#)
        XCTAssertEqual(broken.errorCode, "malformed_json")
        let unpaused = try await harness.ops(.GET, "/v1/status")
        XCTAssertFalse(unpaused.text.contains(#""name":"mail""#), "a refused pause stored nothing: \(unpaused.text)")

        let resumed = try await harness.ops(.POST, "/v1/queues/payouts/resume")
        XCTAssertEqual(resumed.status, 200, resumed.text)
        XCTAssertEqual(resumed.json?["paused"] as? Bool, false)
        let after = try JSONDecoder().decode(QueueStatus.self, from: Data(try await harness.ops(.GET, "/v1/status").body))
        XCTAssertEqual(after.queues.first { $0.name == "payouts" }?.paused, false)
        let metricsAfter = try await harness.request(.GET, "/metrics")
        XCTAssertTrue(metricsAfter.text.contains(#"cityos_queue_paused{queue="payouts"} 0"#), metricsAfter.text)
        let unauthorized = try await harness.request(.POST, "/v1/queues/payouts/pause")
        XCTAssertEqual(unauthorized.status, 401)
    }

    func testAWaitingJobIsCancelledIntoTheDeadLettersAndASecondCancelIs409() async throws {
        let enqueued = try await harness.ops(.POST, "/v1/jobs", json: #"{"kind":"diag.noop","delay_seconds":600}"#)
        let id = try XCTUnwrap(enqueued.json?["job_id"] as? String)
        let cancelled = try await harness.ops(.POST, "/v1/queues/default/jobs/\(id)/cancel", json: #"{"reason":"sent twice"}"#)
        XCTAssertEqual(cancelled.status, 200, cancelled.text)
        XCTAssertEqual(cancelled.json?["id"] as? String, id)
        let errors = (cancelled.json?["envelope"] as? [String: Any])?["errors"] as? [[String: Any]]
        XCTAssertEqual(errors?.last?["message"] as? String, "cancelled by an operator: sent twice")
        let found = try await harness.ops(.GET, "/v1/queues/default/jobs/\(id)")
        XCTAssertEqual(found.json?["state"] as? String, "dead")

        let again = try await harness.ops(.POST, "/v1/queues/default/jobs/\(id)/cancel")
        XCTAssertEqual(again.status, 409, again.text)
        XCTAssertEqual(again.errorCode, "conflict")
        XCTAssertTrue(again.text.contains("already a dead letter"), again.text)
        let unknown = try await harness.ops(.POST, "/v1/queues/default/jobs/no-such-job/cancel")
        XCTAssertEqual(unknown.status, 404)
        let tooLong = try await harness.ops(.POST, "/v1/queues/default/jobs/\(id)/cancel",
                                            json: #"{"reason":"\#(String(repeating: "x", count: 201))"}"#)
        XCTAssertEqual(tooLong.status, 400)
        let status = try JSONDecoder().decode(QueueStatus.self, from: Data(try await harness.ops(.GET, "/v1/status").body))
        XCTAssertEqual(status.queues.first { $0.name == "default" }?.cancelled, 1)
    }

    func testTheScheduleIsListedAndAJobInItIsMadeDueNow() async throws {
        let enqueued = try await harness.ops(.POST, "/v1/jobs", json: #"{"kind":"diag.noop","delay_seconds":600}"#)
        let id = try XCTUnwrap(enqueued.json?["job_id"] as? String)
        let page = try await harness.ops(.GET, "/v1/queues/default/scheduled")
        XCTAssertEqual(page.status, 200, page.text)
        XCTAssertEqual(page.json?["total"] as? Int, 1)
        let entry = try XCTUnwrap((page.json?["entries"] as? [[String: Any]])?.first)
        XCTAssertEqual(entry["id"] as? String, id)
        XCTAssertGreaterThan(entry["due_at"] as? Int ?? 0, Int(Clock.nowMillis()) + 590_000)

        let now = try await harness.ops(.POST, "/v1/queues/default/jobs/\(id)/run-now")
        XCTAssertEqual(now.status, 200, now.text)
        XCTAssertEqual(now.json?["due_now"] as? String, id)
        let after = try await harness.ops(.GET, "/v1/queues/default/scheduled")
        let dueAt = ((after.json?["entries"] as? [[String: Any]])?.first?["due_at"] as? Int) ?? .max
        XCTAssertLessThanOrEqual(dueAt, Int(Clock.nowMillis()), "due now (no worker runs in this test to promote it)")

        let readyAnswer = try await harness.ops(.POST, "/v1/jobs", json: #"{"kind":"diag.noop"}"#)
        let ready = try XCTUnwrap(readyAnswer.json?["job_id"] as? String)
        let notScheduled = try await harness.ops(.POST, "/v1/queues/default/jobs/\(ready)/run-now")
        XCTAssertEqual(notScheduled.status, 409, notScheduled.text)
        XCTAssertTrue(notScheduled.text.contains("is ready, not scheduled"), notScheduled.text)
        let unknown = try await harness.ops(.POST, "/v1/queues/default/jobs/no-such-job/run-now")
        XCTAssertEqual(unknown.status, 404)
    }

    func testSchedulesAnswerWhatTheSchedulerReportsAndNeedTheToken() async throws {
        let withSchedules = try await IngressHarness.start(schedules: { Array(#"{"schedules":[]}"#.utf8) })
        let answer = try await withSchedules.ops(.GET, "/v1/schedules")
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.text, #"{"schedules":[]}"#)
        await withSchedules.stop()
        let without = try await harness.ops(.GET, "/v1/schedules")
        XCTAssertEqual(without.status, 503)
        XCTAssertEqual(without.errorCode, "not_configured")
    }

    func testAJobIsFoundReadyScheduledInFlightOrDeadAndNotOnceItSucceeded() async throws {
        func enqueue(_ json: String) async throws -> String {
            let answer = try await harness.ops(.POST, "/v1/jobs", json: json)
            return try XCTUnwrap(answer.json?["job_id"] as? String, answer.text)
        }
        func lookup(_ id: String) async throws -> IngressHarness.Answer {
            try await harness.ops(.GET, "/v1/queues/lookup/jobs/\(id)")
        }
        let readyID = try await enqueue(#"{"kind":"diag.noop","args":{},"queue":"lookup"}"#)
        let laterID = try await enqueue(#"{"kind":"diag.noop","args":{},"queue":"lookup","delay_seconds":3600}"#)
        let sleepID = try await enqueue(#"{"kind":"diag.sleep","args":{"ms":3000},"queue":"lookup"}"#)
        let doomed = harness.jobClient.makeEnvelope(kind: "no.longer.registered", args: .object([:]), options: .init(queue: "lookup"))
        _ = try await harness.jobClient.enqueueBatch([doomed])

        let ready = try await lookup(readyID)
        XCTAssertEqual(ready.status, 200, ready.text)
        XCTAssertEqual(ready.json?["state"] as? String, "ready")
        XCTAssertEqual((ready.json?["envelope"] as? [String: Any])?["kind"] as? String, "diag.noop")
        let later = try await lookup(laterID)
        XCTAssertEqual(later.json?["state"] as? String, "scheduled", later.text)
        let due = try XCTUnwrap(later.json?["due_at"] as? Int, later.text)
        XCTAssertGreaterThan(due, Int(Date().timeIntervalSince1970 * 1000) + 3_500_000, "due in an hour")
        let unknown = try await lookup("no-such-job")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(unknown.errorCode, "not_found")

        // A worker: the sleeping job is seen in flight; then the noop succeeds, the sleep too, the unknown kind dies.
        let running = self.harness!
        let outcomes = Task {
            try await WorkerRun.until(3, harness: running, queue: "lookup") {
                switch $0 { case .succeeded, .dead: return true; default: return false }
            }
        }
        try await eventually("the sleeping job to show in flight, with when it started once its process beats") {
            let answer = try await lookup(sleepID)
            return answer.json?["state"] as? String == "in_flight" && (answer.json?["process"] as? String)?.isEmpty == false
                && answer.json?["started_at"] is Int
        }
        let runningNow = try await harness.ops(.GET, "/v1/queues/lookup/running")
        XCTAssertEqual(runningNow.status, 200, runningNow.text)
        let sleeping = (runningNow.json?["entries"] as? [[String: Any]] ?? []).first { $0["id"] as? String == sleepID }
        XCTAssertEqual(sleeping?["kind"] as? String, "diag.sleep", runningNow.text)
        XCTAssertEqual(sleeping?["attempt"] as? Int, 1, runningNow.text)
        XCTAssertEqual((sleeping?["process"] as? String)?.isEmpty, false, runningNow.text)
        XCTAssertNotNil(sleeping?["running_for_seconds"] as? Double, runningNow.text)
        let everywhere = try await harness.ops(.GET, "/v1/running")
        XCTAssertEqual(everywhere.status, 200, everywhere.text)
        XCTAssertTrue((everywhere.json?["entries"] as? [[String: Any]] ?? []).contains { $0["id"] as? String == sleepID
            && $0["queue"] as? String == "lookup" }, "every queue's running jobs: \(everywhere.text)")
        let metrics = try await harness.request(.GET, "/metrics")
        let longest = metrics.text.firstMatch(of: /cityos_queue_longest_running_seconds\{queue="lookup"\} ([0-9.e+-]+)/)
        XCTAssertGreaterThan(try XCTUnwrap(longest.flatMap { Double($0.1) }, metrics.text), 0, "the metric says a job runs")
        let finished = try await outcomes.value
        XCTAssertEqual(finished, 3)

        let gone = try await lookup(readyID)
        XCTAssertEqual(gone.status, 404, "a job that succeeded is deleted: \(gone.text)")
        let dead = try await lookup(doomed.id)
        XCTAssertEqual(dead.json?["state"] as? String, "dead", dead.text)
        XCTAssertNotNil(dead.json?["died_at"] as? Int)
        XCTAssertFalse(((dead.json?["envelope"] as? [String: Any])?["errors"] as? [Any] ?? []).isEmpty, "its error history")
        let stillLater = try await lookup(laterID)
        XCTAssertEqual(stillLater.json?["state"] as? String, "scheduled")
    }

    func testDeadLettersCanBeListedReplayedAndDeleted() async throws {
        let client = harness.jobClient
        let envelopes = (0..<3).map { _ in client.makeEnvelope(kind: "no.longer.registered", args: .object([:]),
                                                               options: .init(queue: "mail")) }
        let other = client.makeEnvelope(kind: "also.unregistered", args: .object([:]), options: .init(queue: "mail"))
        _ = try await client.enqueueBatch(envelopes + [other])
        let dead = try await WorkerRun.untilDead(4, harness: harness, queue: "mail")
        XCTAssertEqual(dead, 4)

        let page1 = try await harness.ops(.GET, "/v1/queues/mail/dead?limit=2")
        XCTAssertEqual(page1.status, 200, page1.text)
        XCTAssertEqual(page1.json?["total"] as? Int, 4)
        XCTAssertEqual((page1.json?["entries"] as? [Any])?.count, 2)
        let page2 = try await harness.ops(.GET, "/v1/queues/mail/dead?offset=3&limit=2")
        XCTAssertEqual((page2.json?["entries"] as? [Any])?.count, 1)
        let badLimit = try await harness.ops(.GET, "/v1/queues/mail/dead?limit=0")
        XCTAssertEqual(badLimit.status, 400)
        // By cursor: each full page names the next; the last names none.
        let cursor = try XCTUnwrap(page1.json?["next_after"] as? String, page1.text)
        let byCursor = try await harness.ops(.GET, "/v1/queues/mail/dead?limit=2&after=\(cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")")
        XCTAssertEqual(byCursor.status, 200, byCursor.text)
        XCTAssertEqual(byCursor.json?["after"] as? String, cursor)
        let firstIDs = (page1.json?["entries"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
        let nextIDs = (byCursor.json?["entries"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
        XCTAssertEqual(Set(firstIDs + nextIDs).count, 4, "the two pages hold the four letters: \(firstIDs) \(nextIDs)")
        let last = try XCTUnwrap(byCursor.json?["next_after"] as? String, "the second page is full")
        let beyond = try await harness.ops(.GET, "/v1/queues/mail/dead?limit=2&after=\(last)")
        XCTAssertEqual((beyond.json?["entries"] as? [Any])?.count, 0, beyond.text)
        XCTAssertNil(beyond.json?["next_after"], "the end: no next page")
        for bad in ["after=yesterday", "after=12:", "after=\(last)&offset=1"] {
            let refused = try await harness.ops(.GET, "/v1/queues/mail/dead?\(bad)")
            XCTAssertEqual(refused.status, 400, "\(bad): \(refused.text)")
            XCTAssertEqual(refused.errorCode, "bad_request", bad)
        }

        let ids = envelopes.map(\.id)
        let retried = try await harness.ops(.POST, "/v1/queues/mail/dead/\(ids[0])/retry")
        XCTAssertEqual(retried.status, 200, retried.text)
        let retriedAgain = try await harness.ops(.POST, "/v1/queues/mail/dead/\(ids[0])/retry")
        XCTAssertEqual(retriedAgain.status, 404)
        XCTAssertEqual(retriedAgain.errorCode, "not_found")

        // Path parameters are read percent-decoded: "m%61il" is "mail", "%2D" is "-".
        let deleted = try await harness.ops(.DELETE, "/v1/queues/m%61il/dead/\(ids[1].replacingOccurrences(of: "-", with: "%2D"))")
        XCTAssertEqual(deleted.status, 200, deleted.text)
        XCTAssertEqual(deleted.json?["deleted"] as? String, ids[1])
        let deletedAgain = try await harness.ops(.DELETE, "/v1/queues/mail/dead/\(ids[1])")
        XCTAssertEqual(deletedAgain.status, 404)

        // By kind and last error: the letter of another kind is left alone by a filtered retry-all.
        let byKind = try await harness.ops(.GET, "/v1/queues/mail/dead?kind=also.unregistered&error=UNKNOWN%20job%20kind")
        XCTAssertEqual(byKind.status, 200, byKind.text)
        XCTAssertEqual(byKind.json?["total"] as? Int, 1, byKind.text)
        let formEncoded = try await harness.ops(.GET, "/v1/queues/mail/dead?error=unknown+job+kind+%27also")
        XCTAssertEqual(formEncoded.json?["total"] as? Int, 1, "+ is a space, as clients encode it: \(formEncoded.text)")
        let tooLong = try await harness.ops(.GET, "/v1/queues/mail/dead?kind=\(String(repeating: "k", count: 201))")
        XCTAssertEqual(tooLong.status, 400)
        XCTAssertEqual(tooLong.errorCode, "bad_request", tooLong.text)
        let filtered = try await harness.ops(.POST, "/v1/queues/mail/dead/retry-all?kind=no.longer.registered")
        XCTAssertEqual(filtered.json?["retried"] as? Int, 1, filtered.text)
        let kept = try await harness.ops(.GET, "/v1/queues/mail/dead")
        XCTAssertEqual((kept.json?["entries"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [other.id])

        let all = try await harness.ops(.POST, "/v1/queues/mail/dead/retry-all")
        XCTAssertEqual(all.status, 200)
        XCTAssertEqual(all.json?["retried"] as? Int, 1)
        let empty = try await harness.ops(.GET, "/v1/queues/mail/dead")
        XCTAssertEqual(empty.json?["total"] as? Int, 0)
        let status = try JSONDecoder().decode(QueueStatus.self, from: Data(try await harness.ops(.GET, "/v1/status").body))
        XCTAssertEqual(status.queues.first { $0.name == "mail" }?.ready, 3)
    }
}
