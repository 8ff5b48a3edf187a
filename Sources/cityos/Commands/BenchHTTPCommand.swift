import ArgumentParser
import Foundation
import Ingress

extension BenchCommand {
    /// `cityos bench http`: signed webhooks (or the no-work route) against a running ingress,
    /// from `HTTPLoad`, a closed-loop generator that spends little CPU of the shared machine.
    struct HTTPBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "http",
            abstract: "Load a running ingress with distinct signed Stripe webhooks, or its /bench/noop route.",
            discussion: """
                Every request is built and signed before the clock starts; each connection sends one, \
                waits for the whole answer, then sends the next. Only answers completed within the \
                measured window (after the warm-up) count. The webhook secret is read from \
                CITYOS_WEBHOOK_SECRET_STRIPE, as the ingress reads it.
                """)

        enum Route: String, ExpressibleByArgument, CaseIterable {
            case webhooks, noop
        }

        @Option(help: "The ingress's address (IPv4).") var host = "127.0.0.1"
        @Option(help: "The ingress's port.") var port = 8080
        @Option(help: "webhooks: POST /webhooks/stripe, signed, a new event id each; noop: POST /bench/noop.")
        var route: Route = .webhooks
        @Option(help: "Connections, each with one request in flight.") var connections = 32
        @Option(help: "Threads the connections are shared among.") var threads = 2
        @Option(help: "Seconds measured.") var duration = 10
        @Option(help: "Seconds of load before the measured window.") var warmup = 1
        @Option(help: "Body size in bytes.") var bodyBytes = 1024
        @Option(help: "Distinct events to build (default: 50,000 per second of the run); past them they repeat.")
        var events: Int?
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            guard connections > 0, threads > 0, duration > 0, warmup >= 0, bodyBytes >= 300, bodyBytes <= 1 << 20 else {
                throw ValidationError("--connections, --threads and --duration must be positive, --body-bytes 300…1048576")
            }
            if route == .webhooks, ProcessInfo.processInfo.environment["CITYOS_WEBHOOK_SECRET_STRIPE"]?.isEmpty ?? true {
                throw ValidationError("CITYOS_WEBHOOK_SECRET_STRIPE is not set: the webhooks must be signed with the ingress's secret")
            }
        }

        func run() async throws {
            let count = events ?? (duration + warmup) * 50_000
            let authority = "\(host):\(port)"
            let requests: RequestSet
            switch route {
            case .webhooks:
                let secret = ProcessInfo.processInfo.environment["CITYOS_WEBHOOK_SECRET_STRIPE"] ?? ""
                requests = SignedEvents.requests(count: count, secret: Array(secret.utf8), bodyBytes: bodyBytes, authority: authority)
            case .noop:
                requests = SignedEvents.noopRequests(bodyBytes: bodyBytes, authority: authority)
            }
            var configuration = HTTPLoad.Configuration()
            configuration.host = host
            configuration.port = port
            configuration.connections = connections
            configuration.threads = threads
            configuration.warmup = .seconds(warmup)
            configuration.duration = .seconds(duration)
            let result = try HTTPLoad.run(configuration, requests: requests)
            if json {
                try printJSONLine(result)
            } else {
                print(String(format: "%@: %.0f req/s 2xx (%d in %.1f s), %d non-2xx, %d errors%@",
                             route.rawValue, result.okPerS, result.ok, result.seconds, result.non2xx, result.errors,
                             result.wrapped ? " (events repeated: raise --events)" : ""))
                print(String(format: "latency: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (%d connections, %d threads)",
                             result.p50Ms, result.p90Ms, result.p99Ms, result.maxMs, result.connections, result.threads))
                print(String(format: "load generator CPU: %.1f us per request", result.clientCPUPerRequestUs))
            }
        }
    }
}

/// The benchmark's requests: realistic Stripe events (`payment_intent.succeeded`, tenant in
/// `data.object.metadata`), padded to a size, each with its own id and a valid signature.
enum SignedEvents {
    static func requests(count: Int, secret: [UInt8], bodyBytes: Int, authority: String) -> RequestSet {
        let run = String(UInt32(truncatingIfNeeded: UInt64(Date().timeIntervalSince1970 * 1000)), radix: 16)
        let timestamp = Int64(Date().timeIntervalSince1970)
        let head = Array(#"{"id":"evt_"#.utf8)
        let middle = Array(("\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\",\"api_version\":\"2024-06-20\","
            + "\"created\":1700000000,\"livemode\":false,\"data\":{\"object\":{\"id\":\"pi_3Nx\",\"object\":\"payment_intent\","
            + "\"amount\":2000,\"currency\":\"usd\",\"metadata\":{\"tenant_id\":\"bench\"},\"description\":\"").utf8)
        let tail = Array("\"}}}".utf8)
        let requestHead = Array("POST /webhooks/stripe HTTP/1.1\r\nHost: \(authority)\r\nContent-Type: application/json\r\nStripe-Signature: ".utf8)
        var body: [UInt8] = []
        return RequestSet(count: count) { i, out in
            body.removeAll(keepingCapacity: true)
            body.append(contentsOf: head)
            body.append(contentsOf: "\(run)_\(i)".utf8)
            body.append(contentsOf: middle)
            body.append(contentsOf: repeatElement(UInt8(ascii: "x"), count: max(0, bodyBytes - body.count - tail.count)))
            body.append(contentsOf: tail)
            out.append(contentsOf: requestHead)
            out.append(contentsOf: TimestampedSignature.header(body: body, secret: secret, timestamp: timestamp).utf8)
            out.append(contentsOf: "\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
            out.append(contentsOf: body)
        }
    }

    /// `POST /bench/noop` with a body of the same size (one request, sent again and again).
    static func noopRequests(bodyBytes: Int, authority: String) -> RequestSet {
        RequestSet(count: 1) { _, out in
            var body = Array(#"{"id":"evt_noop","pad":""#.utf8)
            body.append(contentsOf: repeatElement(UInt8(ascii: "x"), count: max(0, bodyBytes - body.count - 2)))
            body.append(contentsOf: #""}"#.utf8)
            out.append(contentsOf: "POST /bench/noop HTTP/1.1\r\nHost: \(authority)\r\nContent-Type: application/json\r\n".utf8)
            out.append(contentsOf: "Content-Length: \(body.count)\r\n\r\n".utf8)
            out.append(contentsOf: body)
        }
    }
}
