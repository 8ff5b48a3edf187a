import AsyncHTTPClient
import CityOSTesting
import Foundation
import Ingress
import Jobs
import Logging
import NIOCore
import NIOHTTP1
import Queue
import Redis

/// A running ingress on a free port, against the test Redis in a namespace of its own, with an
/// HTTP client: tests talk to it over real HTTP.
final class IngressHarness: Sendable {
    static let opsToken = "ops-token-for-tests"
    static let secrets: [WebhookSource: String] = [
        .stripe: "whsec_stripe_test", .medusa: "medusa-secret", .payload: "payload-secret",
        .fleetbase: "fleetbase-secret", .erpnext: "erpnext-secret",
    ]

    /// The test Redis in a namespace of this harness's own.
    let queue: QueueHarness
    let server: IngressServer
    let port: Int
    let http: HTTPClient
    private let serverTask: Task<Void, any Error>

    /// The answer to a request: status, headers, body and the body as JSON (if it is).
    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
        var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
        var errorMessage: String? { (json?["error"] as? [String: Any])?["message"] as? String }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static func start(secrets: [WebhookSource: String] = secrets, opsToken: String? = opsToken,
                      readinessChecks: [ReadinessCheck]? = nil, benchRoute: Bool = false,
                      schedules: ScheduleReport? = nil, handedInGauges: HandedInGauges? = nil,
                      webhookInbox: WebhookInboxReport? = nil, webhookFastPath: Bool = true,
                      idleTimeoutSeconds: Double = 60, webhookDedupeSeconds: Int = 7 * 86_400,
                      eventLoops: Int? = nil, redisURL: String? = nil,
                      logger: Logger? = nil) async throws -> IngressHarness {
        let queue = try QueueHarness(label: "ingress", redisURL: redisURL)
        let logger = logger ?? {
            var logger = Logger(label: "ingress-test")
            logger.logLevel = .warning
            return logger
        }()
        var configuration = IngressConfiguration(host: "127.0.0.1", port: 0, namespace: queue.namespace,
                                                 opsToken: opsToken, webhookSecrets: secrets, benchRoute: benchRoute)
        configuration.webhookFastPath = webhookFastPath
        configuration.idleTimeoutSeconds = idleTimeoutSeconds
        configuration.webhookDedupeSeconds = webhookDedupeSeconds
        configuration.eventLoops = eventLoops
        let server = IngressServer(configuration: configuration, redis: queue.redis, registry: JobCatalog.registry(),
                                   readinessChecks: readinessChecks ?? [.redis(queue.redis)], schedules: schedules,
                                   handedInGauges: handedInGauges,
                                   webhookInbox: webhookInbox, logger: logger)
        let task = Task { try await server.run() }
        let port = try await Bounded.wait("the ingress to listen") { try await server.listeningPort() }
        return IngressHarness(queue: queue, server: server, port: port, task: task)
    }

    private init(queue: QueueHarness, server: IngressServer, port: Int, task: Task<Void, any Error>) {
        self.queue = queue
        self.server = server
        self.port = port
        self.serverTask = task
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the client's connections, stops the server (it lets requests in progress finish),
    /// and removes the test's keys. Each step is bounded; one that hangs is reported.
    func stop() async {
        do {
            try await Bounded.wait("the HTTP client to shut down", seconds: 10) { try await self.http.shutdown() }
            await server.stop()
            let task = serverTask
            try await Bounded.wait("the ingress to stop", seconds: 10) { _ = try? await task.value }
            try await queue.clean()
        } catch {
            FileHandle.standardError.write(Data("IngressHarness.stop: \(error)\n".utf8))
            serverTask.cancel()
        }
    }

    var jobClient: JobClient { queue.client }
    var webhookKeys: QueueKeys { QueueKeys(queue: "webhooks", namespace: queue.namespace) }

    func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil,
                 headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await http.execute(request, timeout: .seconds(10))
        let collected = try await response.body.collect(upTo: 8 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers,
                      body: Array(collected.readableBytesView))
    }

    /// `/v1/*` with the ops token.
    func ops(_ method: HTTPMethod, _ path: String, json: String? = nil) async throws -> Answer {
        try await request(method, path, body: json.map { Array($0.utf8) },
                          headers: [("Authorization", "Bearer \(Self.opsToken)"), ("Content-Type", "application/json")])
    }

    // MARK: Redis state

    /// Jobs stored for the webhooks queue (ready, in flight or delayed).
    func storedWebhookJobs() async throws -> [JobEnvelope] {
        let reply = try await queue.redis.send("HVALS", .string(webhookKeys.jobs))
        return try (reply.array ?? []).compactMap(\.bytes).map { try JobEnvelope.decode($0) }
    }

    /// Keys in this test's namespace.
    func keyCount() async throws -> Int {
        let reply = try await queue.redis.send("KEYS", .string("\(queue.namespace):*"))
        return reply.array?.count ?? 0
    }
}
