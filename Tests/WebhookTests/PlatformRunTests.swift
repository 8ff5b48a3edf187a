import AsyncHTTPClient
import CityOSTesting
import Config
import Foundation
import Jobs
import Logging
import NIOCore
import PostgresNIO
import Sandbox
import Store
import XCTest

/// `cityos run` — the one process `make run` starts, with every role in it (ingress, workers,
/// scheduler, outbox relay) — as a child process, configured the way `make run` configures it, with
/// a sandbox that sends its webhooks to that process. One vendor's money, end to end: an order
/// placed in Medusa is booked (commission, delivery, invoice) from the webhooks alone; then
/// `payouts.run`, enqueued through the ops API, pays the vendor's balance in one transfer. The
/// process logs no error and no failed job, every job's outcome names its trace (the payout's jobs
/// the caller's), and the process stops cleanly.
///
/// The database is shared by the whole suite, so the process must not sweep other tests' tenants:
/// its scheduler reads an empty directory (a tick of a shipped schedule during the test would sweep
/// every tenant; `ShippedScheduleJobsTests` runs those jobs), `payouts.run` is given the tenant, and
/// outbox rows earlier tests left unrelayed are deleted before the process's relay would send them.
final class PlatformRunTests: XCTestCase {
    static let opsToken = "ops-token-for-the-platform-run"

    /// SIGTERM to `cityos run` while jobs run and a client holds a request open (its body still
    /// coming): the short job finishes, the long one goes back to its queue within the shutdown
    /// grace, and the process exits 0 well before a supervisor's SIGKILL (30 s). (Hummingbird's
    /// drain does not wait for a request whose body is incomplete, so this passes with the
    /// workers stopped after the drain too; it guards the guarantee, not the order.)
    func testSIGTERMToRunFinishesOrReturnsItsJobsWithinTheGraceWithARequestOpen() async throws {
        let queue = try QueueHarness(label: "run-stop")
        let schedules = FileManager.default.temporaryDirectory.appendingPathComponent(queue.namespace).path
        try FileManager.default.createDirectory(atPath: schedules, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: schedules) }
        let short = queue.client.makeEnvelope(kind: SleepJob.kind, args: .object(["ms": .number(1_000)]))
        let long = queue.client.makeEnvelope(kind: SleepJob.kind, args: .object(["ms": .number(120_000)]))
        _ = try await queue.client.enqueueBatch([short, long])
        let port = try TestEnvironment.freePort()
        let environment = try DispatchWorld.environment(sandboxURL: "http://127.0.0.1:1").merging([
            "CITYOS_REDIS_NAMESPACE": queue.namespace, "CITYOS_HTTP_HOST": "127.0.0.1", "CITYOS_HTTP_PORT": "\(port)",
            "CITYOS_OPS_TOKEN": Self.opsToken, "CITYOS_SCHEDULER_DIRECTORY": schedules,
            "CITYOS_WORKERS_QUEUES": "default:1", "CITYOS_WORKERS_CONCURRENCY": "2",
            "CITYOS_WORKERS_SHUTDOWN_GRACE_SECONDS": "3", "CITYOS_LOG_LEVEL": "info",
        ]) { $1 }
        let run = try ChildProcess(arguments: ["run"], environment: environment)
        try await eventually(timeout: .seconds(60), "both jobs to start and the ingress to listen; log: \(run.logPath)") {
            try await queue.queue("default")?.inFlight == 2 && run.log.contains(#""msg":"ingress listening""#)
        }
        // A request whose body never finishes arriving: the ingress's drain would wait for it.
        let client = try RawHTTP.Connection(port: port)
        try client.write(Array("POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{\"kind\"".utf8))

        let signalled = ContinuousClock.now
        run.signal(SIGTERM)
        let status = try await run.waitForExit(timeout: .seconds(25))
        withExtendedLifetime(client) {}   // the request stays open until the process has exited
        XCTAssertEqual(status, 0, "a graceful stop exits 0; log:\n\(run.log)")
        XCTAssertLessThan(ContinuousClock.now - signalled, .seconds(20), "the stop waited on the open request")
        let read = try await queue.queue("default")
        let after = try XCTUnwrap(read)
        XCTAssertEqual(after.processed, 1, "the short job finished within the grace")
        XCTAssertEqual(after.ready, 1, "the long job is back in its queue")
        XCTAssertEqual(after.inFlight, 0)
        try await queue.clean()
    }

    func testAnOrderPlacedInMedusaEndsAsOnePaidPayoutThroughOneCityOSRunProcess() async throws {
        let databases = try TestPostgres(appConnections: 4, logger: DispatchWorld.logger)
        try await databases.whileRunning {
            let queue = try QueueHarness(label: "platform")
            let schedules = FileManager.default.temporaryDirectory.appendingPathComponent(queue.namespace).path
            try FileManager.default.createDirectory(atPath: schedules, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: schedules) }
            try await databases.app.withPlatformSweep { connection in
                try await connection.query("DELETE FROM outbox", logger: DispatchWorld.logger)
            }
            let port = try TestEnvironment.freePort()
            let base = "http://127.0.0.1:\(port)"
            var environment = try DispatchWorld.environment(sandboxURL: "http://127.0.0.1:1").merging([
                "CITYOS_REDIS_NAMESPACE": queue.namespace, "CITYOS_HTTP_HOST": "127.0.0.1", "CITYOS_HTTP_PORT": "\(port)",
                "CITYOS_OPS_TOKEN": Self.opsToken, "CITYOS_SCHEDULER_DIRECTORY": schedules,
                "CITYOS_SANDBOX_WEBHOOKS_URL": base + "/webhooks", "CITYOS_LOG_LEVEL": "info",
            ]) { $1 }
            for (source, secret) in DispatchWorld.secrets {
                environment["CITYOS_WEBHOOK_SECRET_\(source.rawValue.uppercased())"] = secret
            }
            // The sandbox as `cityos sandbox` configures itself from the same settings.
            let sandbox = SandboxServer(configuration: .from(try CityOSConfig.load(environment: environment), port: 0),
                                        logger: DispatchWorld.logger)
            let sandboxTask = Task { try await sandbox.run() }
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            var child: ChildProcess?
            do {
                environment["CITYOS_SANDBOX_URL"] = try await sandbox.baseURL()
                let run = try ChildProcess(arguments: ["run"], environment: environment)
                child = run
                try await Self.exercise(run, base: base, sandboxURL: try await sandbox.baseURL(), app: databases.app, http: http)
            } catch {
                child?.signal(SIGKILL)
                _ = try? await child?.waitForExit()
                try? await Self.stop(sandbox, sandboxTask, http, queue)
                throw error
            }
            try await Self.stop(sandbox, sandboxTask, http, queue)
        }
    }

    private static func exercise(_ run: ChildProcess, base: String, sandboxURL: String, app: Database, http: HTTPClient) async throws {
        let client = Client(http: http, base: base, sandboxURL: sandboxURL)
        try await eventually(timeout: .seconds(60), "`cityos run` to be ready; log: \(run.logPath)") {
            (try? await client.call("GET", base + "/readyz").status) == 200
        }

        // A tenant, and a vendor with a connected account, taking 10 % commission.
        let tenant = UUID(), vendor = UUID()
        let created = try await client.stripe("/v1/accounts", "type=express&country=US")
        let account = try XCTUnwrap(created["id"] as? String, "\(created)")
        try await app.withTenant(tenant) { connection in
            try await connection.query("""
                INSERT INTO tenants (id, slug, name, settings) VALUES (\(tenant), \("p-" + tenant.uuidString.lowercased()),
                    'Platform run', '{"payouts": {"hold_days": 0}}'::jsonb)
                """, logger: DispatchWorld.logger)
            try await connection.query("""
                INSERT INTO vendors (tenant_id, id, slug, name, stripe_account_id, payouts_enabled, minimum_payout_currency)
                VALUES (\(tenant), \(vendor), \("v-" + vendor.uuidString.lowercased()), 'Vendor', \(account), true, 'USD')
                """, logger: DispatchWorld.logger)
            try await connection.query("""
                INSERT INTO commission_rules (tenant_id, id, vendor_id, basis_points) VALUES (\(tenant), \(UUID()), NULL, 1000)
                """, logger: DispatchWorld.logger)
        }

        // 1. The order: Medusa's order.placed reaches the ingress signed; the workers book it and
        //    create its delivery and invoice, whose own events come back to the ingress.
        let placed = try await client.sandbox("POST", "/_sandbox/medusa/orders", [
            "currency_code": "usd", "email": "buyer@example.com",
            "metadata": ["tenant_id": tenant.uuidString.lowercased(), "vendor_id": vendor.uuidString.lowercased(),
                         "pickup_address": ["street1": "1 Warehouse Way", "city": "Riyadh", "country": "SA"],
                         "shipping_address": ["name": "Customer", "street1": "22 Palm Street", "city": "Riyadh", "country": "SA"]],
            "items": [["product_id": "prod_lamp", "variant_id": "variant_lamp", "title": "Lamp", "quantity": 2, "unit_price": 49.99]],
        ])
        XCTAssertNotNil(placed["order"], "\(placed)")
        var ledger: [String: Int64] = [:]
        try await eventually(timeout: .seconds(30), "the order's commission to be booked; ledger \(ledger); log: \(run.logPath)") {
            ledger = try await Self.ledger(app, tenant)
            return ledger["earning"] != nil && ledger["commission"] != nil
        }
        XCTAssertEqual(ledger, ["earning": 9_998, "commission": -1_000])
        try await eventually(timeout: .seconds(30), "every webhook the sandbox sent to be delivered; log: \(run.logPath)") {
            let deliveries = try await client.sandbox("GET", "/_sandbox/webhooks")["deliveries"] as? [[String: Any]] ?? []
            let sources = Set(deliveries.filter { $0["state"] as? String == "delivered" }.compactMap { $0["source"] as? String })
            return sources.isSuperset(of: ["medusa", "fleetbase", "erpnext"])
        }

        // 2. The payout, through the ops API, in a trace of the caller's.
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let enqueued = try await client.call("POST", base + "/v1/jobs", json: [
            "kind": "payouts.run", "args": ["tenant_id": tenant.uuidString.lowercased()],
        ], ops: true, headers: [("traceparent", "00-\(traceID)-00f067aa0ba902b7-01")])
        XCTAssertEqual(enqueued.status, 202, enqueued.text)
        var payouts: [(String, Int64, String?)] = []
        try await eventually(timeout: .seconds(30), "the vendor's payout to be paid; payouts \(payouts); log: \(run.logPath)") {
            payouts = try await Self.payouts(app, tenant)
            return payouts.first?.0 == "paid"
        }
        XCTAssertEqual(payouts.count, 1)
        XCTAssertEqual(payouts.first?.1, 8_998, "the whole balance: 99.98 sold, 10.00 commission")
        let transferID = try XCTUnwrap(payouts.first?.2)
        let transfer = try await client.stripe("/v1/transfers/\(transferID)")
        XCTAssertEqual(transfer["destination"] as? String, account)
        XCTAssertEqual((transfer["amount"] as? NSNumber)?.intValue, 8_998)
        let settled = try await Self.ledger(app, tenant)
        XCTAssertEqual(settled.values.reduce(0, +), 0, "the payout settles the ledger: \(settled)")

        // 3. What an operator sees: nothing dead, the work counted.
        let status = try await client.call("GET", base + "/v1/status", ops: true)
        let queues = try XCTUnwrap(status.json?["queues"] as? [[String: Any]], status.text)
        for entry in queues { XCTAssertEqual(entry["dead"] as? Int, 0, "\(entry)") }
        let payoutsQueue = try XCTUnwrap(queues.first { $0["name"] as? String == "payouts" }, status.text)
        XCTAssertGreaterThanOrEqual(payoutsQueue["processed"] as? Int ?? 0, 2, "payouts.run and payouts.vendor: \(payoutsQueue)")
        // The outbox's backlog check, published by the process's store services, and ok.
        let checks = try XCTUnwrap(status.json?["checks"] as? [[String: Any]], status.text)
        let backlog = try XCTUnwrap(checks.first { $0["name"] as? String == "outbox.backlog" }, status.text)
        XCTAssertEqual(backlog["ok"] as? Bool, true, "\(backlog)")

        // 4. Every webhook sent again, newest first, as the services now and then do (duplicates,
        //    late): the ingress answers each as a duplicate, and nothing is booked or paid twice.
        let sent = try await client.sandbox("GET", "/_sandbox/webhooks")["deliveries"] as? [[String: Any]] ?? []
        let delivered = sent.filter { $0["state"] as? String == "delivered" }
        XCTAssertTrue(delivered.contains { $0["type"] as? String == "transfer.created" }, "the payout's transfer event: \(sent)")
        let duplicatesBefore = try await client.duplicates(base)
        for delivery in delivered.reversed() {
            let again = try await client.sandbox("POST", "/_sandbox/webhooks/redeliver",
                                                 ["id": try XCTUnwrap(delivery["id"] as? String), "source": try XCTUnwrap(delivery["source"] as? String)])
            XCTAssertEqual(again["state"] as? String, "pending", "\(again)")
        }
        var duplicates = 0
        try await eventually(timeout: .seconds(30), "\(delivered.count) redeliveries answered as duplicates, \(duplicates) so far; "
                             + "log: \(run.logPath)") {
            duplicates = try await client.duplicates(base) - duplicatesBefore
            return duplicates >= delivered.count
        }
        XCTAssertEqual(duplicates, delivered.count, "every redelivery a duplicate, none accepted as new")
        let again = try await Self.payouts(app, tenant)
        XCTAssertEqual(again.map(\.0), ["paid"], "one payout")
        let ledgerAgain = try await Self.ledger(app, tenant)
        XCTAssertEqual(ledgerAgain, settled, "nothing booked twice")

        // 5. SIGTERM: a clean exit; nothing in the log says error or a failed job.
        run.signal(SIGTERM)
        let exit = try await run.waitForExit(timeout: .seconds(60))
        XCTAssertEqual(exit, 0, "log: \(run.logPath)")
        let troubles = run.log.split(separator: "\n").filter {
            $0.contains("\"level\":\"error\"") || $0.contains("\"level\":\"critical\"") || $0.contains("\"msg\":\"job failed")
        }
        XCTAssertEqual(troubles, [], "log: \(run.logPath)")

        // 6. Every job's outcome names its trace; the payout's jobs name the caller's, through
        //    the outbox that payouts.run fans payouts.vendor out through.
        let outcomes = run.log.split(separator: "\n").compactMap { line -> [String: Any]? in
            guard line.contains("\"msg\":\"job succeeded\"") else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
        XCTAssertGreaterThanOrEqual(outcomes.count, 6, "log: \(run.logPath)")
        for outcome in outcomes { XCTAssertEqual((outcome["trace_id"] as? String)?.count, 32, "\(outcome)") }
        let payoutTraces = outcomes.filter { ($0["kind"] as? String)?.hasPrefix("payouts.") == true }.map { $0["trace_id"] as? String }
        XCTAssertEqual(payoutTraces, [traceID, traceID], "payouts.run and payouts.vendor; log: \(run.logPath)")
    }

    private static func stop(_ sandbox: SandboxServer, _ task: Task<Void, any Error>, _ http: HTTPClient,
                             _ queue: QueueHarness) async throws {
        sandbox.stop()
        _ = await task.result
        try await http.shutdown()
        try await queue.clean()
    }

    /// The tenant's ledger: the sum of each kind of entry.
    private static func ledger(_ app: Database, _ tenant: UUID) async throws -> [String: Int64] {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query(
                "SELECT kind, sum(amount)::bigint FROM vendor_ledger_entries GROUP BY kind", logger: DispatchWorld.logger)
            var sums: [String: Int64] = [:]
            for try await (kind, sum) in rows.decode((String, Int64).self) { sums[kind] = sum }
            return sums
        }
    }

    /// The tenant's payouts: (status, amount, transfer id).
    private static func payouts(_ app: Database, _ tenant: UUID) async throws -> [(String, Int64, String?)] {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query("SELECT status, amount, stripe_transfer_id FROM payouts", logger: DispatchWorld.logger)
            var found: [(String, Int64, String?)] = []
            for try await row in rows.decode((String, Int64, String?).self) { found.append(row) }
            return found
        }
    }

    /// HTTP to the process under test and to the sandbox.
    private struct Client {
        let http: HTTPClient
        let base: String
        let sandboxURL: String

        struct Answer {
            var status: Int
            var text: String
            var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] }
        }

        func call(_ method: String, _ url: String, json: [String: Any]? = nil, ops: Bool = false,
                  form: String? = nil, headers: [(String, String)] = []) async throws -> Answer {
            var request = HTTPClientRequest(url: url)
            request.method = .init(rawValue: method)
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if ops { request.headers.add(name: "Authorization", value: "Bearer \(PlatformRunTests.opsToken)") }
            if let json {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
            } else if let form {
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                request.body = .bytes(ByteBuffer(string: form))
            }
            let response = try await http.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 16 << 20)
            return Answer(status: Int(response.status.code), text: String(buffer: body))
        }

        func sandbox(_ method: String, _ path: String, _ json: [String: Any]? = nil) async throws -> [String: Any] {
            try await call(method, sandboxURL + path, json: json).json ?? [:]
        }

        /// Webhook deliveries the ingress answered as duplicates, every source (`/metrics`).
        func duplicates(_ base: String) async throws -> Int {
            let metrics = try await call("GET", base + "/metrics")
            return metrics.text.split(separator: "\n")
                .filter { $0.hasPrefix("cityos_webhooks_total{") && $0.contains(#"result="duplicate""#) }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
                .reduce(0) { $0 + Int($1) }
        }

        /// A Stripe call at the sandbox: a POST when `form` is given, else a GET.
        func stripe(_ path: String, _ form: String? = nil) async throws -> [String: Any] {
            try await call(form == nil ? "GET" : "POST", sandboxURL + "/stripe" + path, form: form,
                           headers: [("Authorization", "Bearer sk_test_sandbox")]).json ?? [:]
        }
    }
}
