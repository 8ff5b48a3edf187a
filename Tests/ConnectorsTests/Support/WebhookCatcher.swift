import Foundation
import Hummingbird
import Logging
import Synchronization

/// A stand-in for the ingress (header names lower-cased): records every webhook posted to `/webhooks/{source}` and answers
/// the statuses a test queues (then 202).
final class WebhookCatcher: Sendable {
    struct Received: Sendable {
        let source: String
        let headers: [String: String]
        let body: Data

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    }

    private struct State {
        var received: [Received] = []
        var statuses: [Int] = []
    }

    private let state = Mutex(State())
    private let task: Mutex<Task<Void, any Error>?> = Mutex(nil)

    /// `http://127.0.0.1:<port>/webhooks`, the value for the sandbox's webhooks URL.
    private(set) nonisolated(unsafe) var url = ""

    static func start() async throws -> WebhookCatcher {
        let catcher = WebhookCatcher()
        let router = Router()
        router.post("/webhooks/{source}") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
            let status = catcher.record(Received(source: context.parameters.get("source") ?? "",
                                                 headers: headers, body: Data(body.readableBytesView)))
            return Response(status: .init(code: status))
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "webhook-catcher")
        logger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
                              logger: logger)
        catcher.task.withLock { $0 = Task { try await app.run() } }
        var ports = stream.makeAsyncIterator()
        let port = await ports.next() ?? 0
        catcher.url = "http://127.0.0.1:\(port)/webhooks"
        return catcher
    }

    /// The next answers, in order (e.g. `[500]` to make the first delivery fail).
    func answer(_ statuses: [Int]) { state.withLock { $0.statuses.append(contentsOf: statuses) } }

    private func record(_ received: Received) -> Int {
        state.withLock { state in
            state.received.append(received)
            return state.statuses.isEmpty ? 202 : state.statuses.removeFirst()
        }
    }

    var received: [Received] { state.withLock { $0.received } }

    /// The deliveries of events of `type` (Stripe `type`, platform `type`, Fleetbase `event`).
    func events(_ source: String, type: String) -> [Received] {
        received.filter { $0.source == source && (($0.json["type"] ?? $0.json["event"]) as? String) == type }
    }

    func stop() async {
        let task = self.task.withLock { $0 }
        task?.cancel()
        _ = await task?.result
    }
}
