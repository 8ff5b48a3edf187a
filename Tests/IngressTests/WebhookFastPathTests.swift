import CityOSTesting
import Foundation
import Ingress
import XCTest

/// The webhook fast path (`WebhookFastPath`): well-formed deliveries are answered from the
/// socket's bytes on the event loop, everything else by the router, with the same answers and
/// in request order.
final class WebhookFastPathTests: XCTestCase {
    var harness: IngressHarness!

    override func tearDown() async throws {
        await harness?.stop()
    }

    private func signed(_ id: String, _ extra: [(String, String)] = [("Content-Type", "application/json")]) -> [UInt8] {
        let body = Signer.stripeEvent(id: id)
        return RawHTTP.request("POST", "/webhooks/stripe", body: body,
                               headers: extra + [("Stripe-Signature", Signer.timestamped(body, secret: "whsec_stripe_test"))])
    }

    /// A signed delivery that asks `Expect: 100-continue`, split where a client that waits for
    /// the 100 splits it.
    private func expectingContinue(_ id: String) -> (head: [UInt8], body: [UInt8]) {
        let request = signed(id, [("Expect", "100-continue")])
        let bodyCount = Signer.stripeEvent(id: id).count
        return (Array(request.dropLast(bodyCount)), Array(request.suffix(bodyCount)))
    }

    private func forged(_ id: String) -> [UInt8] {
        let body = Signer.stripeEvent(id: id)
        return RawHTTP.request("POST", "/webhooks/stripe", body: body,
                               headers: [("Stripe-Signature", Signer.timestamped(body, secret: "not-the-secret"))])
    }

    private func answeredCount(path: String) async throws -> Int {
        let metrics = try await harness.request(.GET, "/metrics").text
        let prefix = #"cityos_webhooks_answered_total{source="stripe",path="\#(path)"} "#
        let line = metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
    }

    func testWellFormedDeliveriesAreAnsweredOnTheEventLoopAndRefusalsByTheRouter() async throws {
        harness = try await IngressHarness.start()
        let port = harness.port
        let accepted = try RawHTTP.exchange(port: port, signed("evt_fast_1"), responses: 1)
        let refused = try RawHTTP.exchange(port: port, forged("evt_fast_2"), responses: 1)

        XCTAssertEqual(accepted.first?.status, 202, accepted.first?.body ?? "")
        XCTAssertEqual(accepted.first?.headers["content-type"], "application/json")
        XCTAssertNotNil(accepted.first?.headers["date"])
        XCTAssertEqual(refused.first?.status, 400)
        XCTAssertEqual((refused.first?.json?["error"] as? [String: Any])?["code"] as? String, "bad_signature")
        let answeredOnLoop = try await answeredCount(path: "event_loop")
        let answeredByRouter = try await answeredCount(path: "router")
        XCTAssertEqual(answeredOnLoop, 1)
        XCTAssertEqual(answeredByRouter, 1)
        let jobs = try await harness.storedWebhookJobs()
        XCTAssertEqual(jobs.map(\.id), [accepted.first?.json?["job_id"] as? String])
    }

    func testPipelinedRequestsAreAnsweredInOrderWhicheverPathTakesThem() async throws {
        harness = try await IngressHarness.start()
        let requests = signed("evt_pipe_a") + RawHTTP.request("GET", "/healthz") + forged("evt_pipe_b")
            + signed("evt_pipe_c") + signed("evt_pipe_a") + RawHTTP.request("POST", "/webhooks/nowhere", body: [1])
        let answers = try RawHTTP.exchange(port: harness.port, requests, responses: 6)

        XCTAssertEqual(answers.map(\.status), [202, 200, 400, 202, 202, 404], answers.map(\.body).joined(separator: "\n"))
        let a = answers[0].json?["job_id"] as? String
        XCTAssertNotNil(a)
        XCTAssertEqual(answers[0].json?["duplicate"] as? Bool, false)
        XCTAssertEqual(answers[4].json?["job_id"] as? String, a, "the re-delivery names the first job")
        XCTAssertEqual(answers[4].json?["duplicate"] as? Bool, true)
        XCTAssertNotEqual(answers[3].json?["job_id"] as? String, a)
        let stored = try await harness.storedWebhookJobs()
        XCTAssertEqual(Set(stored.compactMap { $0.args["event_id"]?.stringValue }), ["evt_pipe_a", "evt_pipe_c"])
    }

    func testAHundredPipelinedDeliveriesAreAllStoredAndAnsweredInOrder() async throws {
        harness = try await IngressHarness.start()
        let run = UUID().uuidString.prefix(8)
        let ids = (0..<100).map { "evt_burst_\(run)_\($0)" }
        // ~140 KB in one write: more than the fast path keeps while a delivery waits for Redis,
        // so it stops reading and takes the rest as it drains.
        let answers = try RawHTTP.exchange(port: harness.port, ids.flatMap { signed($0) }, responses: ids.count)

        XCTAssertEqual(answers.map(\.status), Array(repeating: 202, count: ids.count))
        let stored = try await harness.storedWebhookJobs()
        let storedIDs = Dictionary(uniqueKeysWithValues: stored.map { ($0.id, $0.args["event_id"]?.stringValue) })
        XCTAssertEqual(answers.map { storedIDs[$0.json?["job_id"] as? String ?? ""] ?? nil }, ids,
                       "each answer names the job of the delivery in its place")
    }

    func testOnAnEventLoopOfItsOwnWithRedisOverItsUnixSocketEveryDeliveryIsStored() async throws {
        // As `cityos serve` runs on 2 cores: one loop of the server's own (http.event_loops), and
        // here Redis reached over its Unix socket (a unix:// redis.url).
        harness = try await IngressHarness.start(eventLoops: 1, redisURL: try TestEnvironment.redisSocketURL())
        let run = UUID().uuidString.prefix(8)
        let ids = (0..<30).map { "evt_unix_\(run)_\($0)" }
        let answers = try RawHTTP.exchange(port: harness.port, ids.flatMap { signed($0) } + forged("evt_unix_forged"),
                                           responses: ids.count + 1)

        XCTAssertEqual(answers.map(\.status), Array(repeating: 202, count: ids.count) + [400])
        let answeredOnLoop = try await answeredCount(path: "event_loop")
        XCTAssertEqual(answeredOnLoop, ids.count)
        let stored = try await harness.storedWebhookJobs()
        XCTAssertEqual(Set(stored.compactMap { $0.args["event_id"]?.stringValue }), Set(ids))
        let ready = try await harness.request(.GET, "/readyz")
        XCTAssertEqual(ready.status, 200, ready.text)
    }

    func testAForgottenScriptIsHandedToTheRouterWhichLoadsItAndStoresTheJob() async throws {
        harness = try await IngressHarness.start()
        let warm = try RawHTTP.exchange(port: harness.port, signed("evt_script_1"), responses: 1)
        XCTAssertEqual(warm.first?.status, 202)
        let onLoopBefore = try await answeredCount(path: "event_loop")
        XCTAssertEqual(onLoopBefore, 1)
        try await harness.queue.redis.send("SCRIPT", "FLUSH")

        let answer = try RawHTTP.exchange(port: harness.port, signed("evt_script_2"), responses: 1)

        XCTAssertEqual(answer.first?.status, 202, answer.first?.body ?? "")
        XCTAssertEqual(answer.first?.json?["duplicate"] as? Bool, false)
        let answeredByRouter = try await answeredCount(path: "router")
        XCTAssertEqual(answeredByRouter, 1, "NOSCRIPT on the fast path hands the request over")
        let stored = try await harness.storedWebhookJobs()
        XCTAssertEqual(stored.count, 2)
    }

    func testOnceTheRouterHasAnsweredTheNextDeliveryOnTheConnectionIsTheFastPathsAgain() async throws {
        harness = try await IngressHarness.start()
        let connection = try RawHTTP.Connection(port: harness.port)
        try connection.write(forged("evt_resume_1"))
        let refused = try connection.read(responses: 1)
        try connection.write(signed("evt_resume_2"))
        let accepted = try connection.read(responses: 1)

        XCTAssertEqual(refused.first?.status, 400)
        XCTAssertEqual(accepted.first?.status, 202, accepted.first?.body ?? "")
        let answeredOnLoop = try await answeredCount(path: "event_loop")
        let answeredByRouter = try await answeredCount(path: "router")
        XCTAssertEqual(answeredOnLoop, 1, "the fast path takes the connection back")
        XCTAssertEqual(answeredByRouter, 1)
    }

    func testADeliveryArrivingInPiecesIsCollectedAndAnsweredOnTheEventLoop() async throws {
        harness = try await IngressHarness.start()
        let request = signed("evt_pieces")
        let connection = try RawHTTP.Connection(port: harness.port)
        // The head in two parts, then the body in two; the pauses only make each part arrive on
        // its own (the answer is awaited below, whatever the server's reads were).
        let cuts = [0, 20, 120, request.count - 400, request.count]
        for (from, upTo) in zip(cuts, cuts.dropFirst()) {
            try connection.write(Array(request[from..<upTo]))
            try await Task.sleep(for: .milliseconds(20))
        }
        let answer = try connection.read(responses: 1)

        XCTAssertEqual(answer.first?.status, 202, answer.first?.body ?? "")
        let answeredOnLoop = try await answeredCount(path: "event_loop")
        XCTAssertEqual(answeredOnLoop, 1)
    }

    func testAChunkedDeliveryHandsTheRestOfTheConnectionToTheRouter() async throws {
        harness = try await IngressHarness.start()
        let chunked = Self.chunkedDelivery("evt_chunked")
        let answers = try RawHTTP.exchange(port: harness.port, chunked + signed("evt_after_chunked"), responses: 2)

        XCTAssertEqual(answers.map(\.status), [202, 202], answers.map(\.body).joined(separator: "\n"))
        let answeredOnLoop = try await answeredCount(path: "event_loop")
        let answeredByRouter = try await answeredCount(path: "router")
        XCTAssertEqual(answeredOnLoop, 0, "after a head the fast path does not read, the connection is the router's")
        XCTAssertEqual(answeredByRouter, 2)
        let stored = try await harness.storedWebhookJobs()
        XCTAssertEqual(Set(stored.compactMap { $0.args["event_id"]?.stringValue }), ["evt_chunked", "evt_after_chunked"])
    }

    /// A client that shuts its sending side right after its delivery (`nc -N`, some senders) still
    /// gets its answer: the end of input waits while the job is on its way to Redis. Before, the
    /// router's side closed the connection at it, and the stored delivery went unanswered.
    func testAClientThatShutsItsSendingSideAfterADeliveryGetsItsAnswer() async throws {
        harness = try await IngressHarness.start()
        let connection = try RawHTTP.Connection(port: harness.port)
        try connection.write(signed("evt_half_closed"))
        connection.finishSending()
        let answers = try connection.read(responses: 1)
        XCTAssertEqual(answers.first?.status, 202, answers.first?.body ?? "")
        let stored = try await harness.storedWebhookJobs()
        XCTAssertEqual(stored.compactMap { $0.args["event_id"]?.stringValue }, ["evt_half_closed"])
    }

    /// A chunked body the HTTP decoder rejects while the handler reads it (a chunk size that is
    /// not hex) is the client's mistake: 400 with the JSON error, not a 500, and nothing stored.
    func testAChunkedBodyThatIsNotValidHTTPIsA400() async throws {
        harness = try await IngressHarness.start()
        let chunked = Self.chunkedDelivery("evt_bad_chunk", chunkSize: "zz")
        let answers = try RawHTTP.exchange(port: harness.port, chunked, responses: 1)

        XCTAssertEqual(answers.first?.status, 400, answers.first?.body ?? "")
        let error = answers.first?.json?["error"] as? [String: Any]
        XCTAssertEqual(error?["code"] as? String, "bad_request", answers.first?.body ?? "")
        let stored = try await harness.storedWebhookJobs()
        XCTAssertEqual(stored.count, 0, "nothing stored")
    }

    func testAClientThatWaitsFor100ContinueGetsItAtOnceThenItsAnswer() async throws {
        harness = try await IngressHarness.start()
        let alone = expectingContinue("evt_expect")
        let connection = try RawHTTP.Connection(port: harness.port)
        try connection.write(alone.head)
        let interim = try connection.read(responses: 1)   // no body sent yet: only the 100 can come
        XCTAssertEqual(interim.first?.status, 100)
        try connection.write(alone.body)
        let final = try connection.read(responses: 1)
        XCTAssertEqual(final.first?.status, 202, final.first?.body ?? "")

        // HTTP/1.0 knows no 100 Continue: the expectation is ignored, the answer is the final one.
        let old = expectingContinue("evt_expect_http10")
        let old10 = Array(String(decoding: old.head + old.body, as: UTF8.self)
            .replacingOccurrences(of: " HTTP/1.1\r\n", with: " HTTP/1.0\r\n").utf8)
        let answers = try RawHTTP.exchange(port: harness.port, old10, responses: 1)
        XCTAssertEqual(answers.first?.status, 202, answers.first?.body ?? "")

        // Behind a request still being answered, the 100 waits for that answer: answers keep their order.
        let late = expectingContinue("evt_expect_pipelined")
        let pipelined = try RawHTTP.Connection(port: harness.port)
        try pipelined.write(RawHTTP.request("GET", "/healthz") + late.head)
        let first = try pipelined.read(responses: 2)
        XCTAssertEqual(first.map(\.status), [200, 100])
        try pipelined.write(late.body)
        let last = try pipelined.read(responses: 1)
        XCTAssertEqual(last.first?.status, 202, last.first?.body ?? "")
        let stored = try await harness.storedWebhookJobs()
        XCTAssertEqual(Set(stored.compactMap { $0.args["event_id"]?.stringValue }),
                       ["evt_expect", "evt_expect_http10", "evt_expect_pipelined"])

        // A body announced over the 1 MiB limit is not invited: its 413 comes first, before any byte of it.
        let huge = try RawHTTP.Connection(port: harness.port)
        try huge.write(Array("POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\n\r\n".utf8))
        let refused = try huge.read(responses: 1)
        XCTAssertEqual(refused.first?.status, 413, refused.first?.body ?? "")
    }

    func testARequestThatIsNotHTTPGetsAJSONErrorAfterTheAnswersBeforeIt() async throws {
        harness = try await IngressHarness.start()
        let garbage = Array("G@T /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        let answers = try RawHTTP.exchange(port: harness.port, signed("evt_before_garbage") + garbage, responses: 2)
        XCTAssertEqual(answers.map(\.status), [202, 400], answers.map(\.body).joined(separator: "\n"))
        XCTAssertEqual(answers.last?.headers["content-type"], "application/json")
        XCTAssertEqual((answers.last?.json?["error"] as? [String: Any])?["code"] as? String, "bad_request", answers.last?.body ?? "")
        XCTAssertEqual(answers.last?.headers["connection"], "close")
        let stored = try await harness.storedWebhookJobs()
        XCTAssertEqual(stored.compactMap { $0.args["event_id"]?.stringValue }, ["evt_before_garbage"])

        // Behind a request the router answers: its answer first, then the error.
        let routed = try RawHTTP.exchange(port: harness.port, RawHTTP.request("GET", "/healthz") + garbage, responses: 2)
        XCTAssertEqual(routed.map(\.status), [200, 400], routed.map(\.body).joined(separator: "\n"))
        XCTAssertEqual((routed.last?.json?["error"] as? [String: Any])?["code"] as? String, "bad_request")

        let huge = RawHTTP.request("GET", "/healthz", headers: [("X-Padding", String(repeating: "p", count: 200_000))])
        let overflow = try RawHTTP.Connection(port: harness.port)
        try overflow.write(huge)
        let refused = try overflow.read(responses: 1)
        XCTAssertEqual(refused.first?.status, 431, refused.first?.body ?? "")
        XCTAssertEqual((refused.first?.json?["error"] as? [String: Any])?["code"] as? String, "headers_too_large")
        _ = try overflow.awaitClose(seconds: 10)
    }

    /// What concurrent senders got back while Redis went away and came back.
    private actor Tally {
        var accepted: [String] = []
        var unavailable = 0
        var unexpected: [String] = []
        var restarted = false
        var acceptedSinceRestart = 0
        var finished = false

        var answered: Int { accepted.count + unavailable + unexpected.count }

        func record(_ id: String, status: Int, body: String) {
            switch status {
            case 202:
                accepted.append(id)
                if restarted { acceptedSinceRestart += 1 }
            case 503: unavailable += 1
            default: unexpected.append("\(id): \(status) \(body)")
            }
        }

        func markRestarted() { restarted = true }
        func finish() { finished = true }
    }

    func testEveryAcceptedDeliveryIsStoredWhenRedisStopsAndReturnsMidStream() async throws {
        harness = try await IngressHarness.start()
        let harness = try XCTUnwrap(harness)
        let tally = Tally()
        let run = UUID().uuidString.prefix(8).lowercased()
        let senders = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for sender in 0..<8 {
                    group.addTask {
                        var n = 0
                        while !(await tally.finished) {
                            let id = "evt_midstream_\(run)_\(sender)_\(n)"
                            n += 1
                            let body = Signer.stripeEvent(id: id)
                            let answer = try await harness.request(
                                .POST, "/webhooks/stripe", body: body,
                                headers: [("Stripe-Signature", Signer.timestamped(body, secret: "whsec_stripe_test"))])
                            await tally.record(id, status: answer.status, body: answer.text)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        do {
            try await eventually(timeout: .seconds(30), "100 deliveries answered") { await tally.answered >= 100 }
            try await RedisServerControl.stop()
            try await eventually(timeout: .seconds(30), "deliveries refused while Redis is down") { await tally.unavailable >= 20 }
            try await RedisServerControl.start()
            await tally.markRestarted()
            try await eventually(timeout: .seconds(30), "deliveries accepted again") { await tally.acceptedSinceRestart >= 100 }
        } catch {
            await tally.finish()
            _ = try? await senders.value
            try? await RedisServerControl.start()
            throw error
        }
        await tally.finish()
        try await senders.value

        let unexpected = await tally.unexpected
        XCTAssertEqual(unexpected, [], "every answer is 202 or 503")
        let accepted = await tally.accepted
        let stored = Set(try await harness.storedWebhookJobs().compactMap { $0.args["event_id"]?.stringValue })
        let lost = accepted.filter { !stored.contains($0) }
        XCTAssertEqual(lost, [], "\(lost.count) of \(accepted.count) accepted deliveries are not in Redis")
        let answeredOnLoop = try await answeredCount(path: "event_loop")
        XCTAssertGreaterThan(answeredOnLoop, 0, "the fast path answered before and after the outage")
    }

    func testAGracefulStopWaitsForADeliveryWhoseJobIsOnItsWayToRedis() async throws {
        harness = try await IngressHarness.start()
        let port = harness.port
        let warm = try RawHTTP.exchange(port: port, signed("evt_stop_warm_\(UUID().uuidString)"), responses: 1)
        XCTAssertEqual(warm.first?.status, 202)
        // Redis holds write commands for 1.5 s: the delivery's script call waits there.
        try await harness.queue.redis.send("CLIENT", "PAUSE", "1500", "WRITE")
        let id = "evt_stop_\(UUID().uuidString)"
        let delivery = signed(id)
        let answer = Task { try await RawHTTP.exchangeOffPool(port: port, delivery, responses: 1) }
        try await eventually("the delivery's script call to wait in Redis") {
            let info = try await harness.queue.redis.send("INFO", "clients").string ?? ""
            return info.contains("blocked_clients:1")
        }

        await harness.server.stop()
        try await eventually("the ingress to stop taking connections") { !RawHTTP.accepts(port: port) }
        let answered = try await answer.value

        XCTAssertEqual(answered.first?.status, 202, answered.first?.body ?? "")
        let stored = try await harness.storedWebhookJobs().compactMap { $0.args["event_id"]?.stringValue }
        XCTAssertTrue(stored.contains(id), "the job the 202 names is in Redis")
    }

    func testConnectionCloseIsLeftToTheRouterWhichClosesAfterAnswering() async throws {
        harness = try await IngressHarness.start()
        let answer = try RawHTTP.exchange(port: harness.port, signed("evt_close", [("Connection", "close")]), responses: 1)

        XCTAssertEqual(answer.first?.status, 202, answer.first?.body ?? "")
        let answeredByRouter = try await answeredCount(path: "router")
        XCTAssertEqual(answeredByRouter, 1)
    }

    func testWithTheFastPathOffTheRouterAnswersEveryDelivery() async throws {
        harness = try await IngressHarness.start(webhookFastPath: false)
        let answer = try RawHTTP.exchange(port: harness.port, signed("evt_router_only"), responses: 1)

        XCTAssertEqual(answer.first?.status, 202, answer.first?.body ?? "")
        let answeredOnLoop = try await answeredCount(path: "event_loop")
        let answeredByRouter = try await answeredCount(path: "router")
        XCTAssertEqual(answeredOnLoop, 0)
        XCTAssertEqual(answeredByRouter, 1)
    }

    /// A signed Stripe delivery with a chunked body of one chunk, whose size line is `chunkSize`
    /// (the body's length in hex when nil).
    private static func chunkedDelivery(_ id: String, chunkSize: String? = nil) -> [UInt8] {
        let body = Signer.stripeEvent(id: id)
        var chunked = Array("POST /webhooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n".utf8)
        chunked += Array("Stripe-Signature: \(Signer.timestamped(body, secret: "whsec_stripe_test"))\r\n\r\n".utf8)
        chunked += Array("\(chunkSize ?? String(body.count, radix: 16))\r\n".utf8) + body + Array("\r\n0\r\n\r\n".utf8)
        return chunked
    }
}
