import AsyncHTTPClient
import CityOSTesting
import Foundation
import Ingress
import Logging
import NIOCore
import Queue

/// An ingress on a free port of this process, on the test Redis in a given namespace, with the
/// world's registry: the sandbox posts webhooks to it and tests call its ops API over HTTP.
final class RunningIngress: Sendable {
    static let opsToken = "billing-ops-token"
    static let stripeSecret = "whsec_billing_test"

    let server: IngressServer
    let port: Int
    private let task: Task<Void, any Error>

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var webhooksURL: String { baseURL + "/webhooks" }

    private init(server: IngressServer, port: Int, task: Task<Void, any Error>) {
        self.server = server
        self.port = port
        self.task = task
    }

    static func start(queue: QueueHarness, namespace: String? = nil) async throws -> RunningIngress {
        var logger = Logger(label: "billing-ingress")
        logger.logLevel = .warning
        let configuration = IngressConfiguration(host: "127.0.0.1", port: 0, namespace: namespace ?? queue.namespace,
                                                 opsToken: opsToken, webhookSecrets: [.stripe: stripeSecret], logRequests: false)
        let server = IngressServer(configuration: configuration, redis: queue.redis, registry: queue.registry, logger: logger)
        let task = Task { try await server.run() }
        let port = try await server.listeningPort()
        return RunningIngress(server: server, port: port, task: task)
    }

    func stop() async {
        await server.stop()
        _ = await task.result
    }

    /// A request to the ops API (bearer token) or any route: (status, body as JSON object or nil, text).
    func call(_ method: String, _ path: String, json: String? = nil, http: HTTPClient) async throws
        -> (status: Int, json: [String: Any]?, text: String) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(Self.opsToken)")
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await http.execute(request, timeout: .seconds(10))
        let data = Data((try await response.body.collect(upTo: 16 << 20)).readableBytesView)
        return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                String(decoding: data, as: UTF8.self))
    }
}
