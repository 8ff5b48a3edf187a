import AsyncHTTPClient
import CityOSTesting
import Config
import Connectors
import Foundation
import Logging
import NIOCore
import Sandbox
import XCTest

/// A sandbox of the test's own on a free loopback port, connectors pointed at it, and the
/// control API as plain calls: `script`, `calls`, `state`, `webhooks`.
final class SandboxHarness: @unchecked Sendable {
    // Set once in `start`, read-only afterwards.
    let server: SandboxServer
    let baseURL: String
    let namespace = TestEnvironment.uniqueNamespace("conn")
    private let task: Task<Void, any Error>
    let http = HTTPClient(eventLoopGroupProvider: .singleton)

    static let secrets = ["stripe": "whsec_test_stripe", "medusa": "medusa-secret", "payload": "payload-secret",
                          "fleetbase": "fleetbase-secret", "erpnext": "erpnext-secret"]

    private init(server: SandboxServer, baseURL: String, task: Task<Void, any Error>) {
        self.server = server
        self.baseURL = baseURL
        self.task = task
    }

    /// Starts a sandbox on port 0; webhooks go to `webhooksURL` (nowhere by default: sending off).
    static func start(webhooksURL: String? = nil, credentials: [String: String] = [:]) async throws -> SandboxHarness {
        let configuration = SandboxConfiguration(
            port: 0, webhooksURL: webhooksURL ?? "http://127.0.0.1:9/webhooks", webhookSecrets: secrets,
            sendWebhooks: webhooksURL != nil, credentials: credentials, maxHang: .seconds(20))
        let server = SandboxServer(configuration: configuration, logger: TestEnvironment.logger)
        let task = Task { try await server.run() }
        let url = try await server.baseURL()
        return SandboxHarness(server: server, baseURL: url, task: task)
    }

    func stop() async {
        server.stop()
        _ = await task.result
        try? await http.shutdown()
    }

    /// The environment a `cityos` process or `CityOSConfig` needs to reach this sandbox.
    func environment(_ overrides: [String: String] = [:]) throws -> [String: String] {
        var environment = [
            "CITYOS_REDIS_URL": try TestEnvironment.redisURL(),
            "CITYOS_REDIS_NAMESPACE": namespace,
            "CITYOS_DATABASE_URL": ProcessInfo.processInfo.environment["CITYOS_DATABASE_URL"]
                ?? "postgres://cityos_app@127.0.0.1:1/unused",
            "CITYOS_SANDBOX_URL": baseURL,
            "CITYOS_STRIPE_SECRET_KEY": "sk_test_sandbox",
            "CITYOS_MEDUSA_API_KEY": "sk_medusa_test",
            "CITYOS_PAYLOAD_API_KEY": "payload-key",
            "CITYOS_FLEETBASE_API_KEY": "flb_test_key",
            "CITYOS_ERPNEXT_API_KEY": "erp-key",
            "CITYOS_ERPNEXT_API_SECRET": "erp-secret",
            "CITYOS_CONNECTORS_TIMEOUT_SECONDS": "2",
            "CITYOS_CONNECTORS_MAX_RETRIES": "3",
        ]
        for (key, value) in overrides { environment[key] = value }
        return environment
    }

    /// Connectors configured as the platform would be, from `CityOSConfig` with `overrides`.
    func connectors(_ overrides: [String: String] = [:], redis: RedisClientProvider = .none) throws -> Connectors {
        let config = try CityOSConfig.load(environment: try environment(overrides))
        return Connectors(config: config, redis: try redis.client(), namespace: namespace, logger: TestEnvironment.logger)
    }

    // MARK: Control API

    @discardableResult
    func control(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await http.execute(request, timeout: .seconds(10))
        let data = Data((try await response.body.collect(upTo: 16 << 20)).readableBytesView)
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        XCTAssertTrue((200..<300).contains(Int(response.status.code)), "\(method) \(path): \(response.status) \(object)")
        return object
    }

    func script(_ body: [String: Any]) async throws { try await control("POST", "/_sandbox/script", body) }

    /// How many calls reached `endpoint`, and when (milliseconds since the sandbox started).
    func calls(_ endpoint: String) async throws -> (count: Int, times: [Double]) {
        let calls = try await control("GET", "/_sandbox/calls")["calls"] as? [String: Any]
        let entry = calls?[endpoint] as? [String: Any]
        let times = (entry?["at_ms"] as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.doubleValue }
        return (entry?["count"] as? Int ?? 0, times)
    }

    /// The ids a service holds: `state("stripe", "payment_intents")`.
    func state(_ service: String, _ kind: String) async throws -> [String] {
        let state = try await control("GET", "/_sandbox/state")
        return ((state[service] as? [String: Any])?[kind] as? [Any] ?? []).compactMap { $0 as? String }
    }

    /// A raw call to a service, as a test's own client would make it.
    func raw(_ method: String, _ path: String, headers: [String: String], body: String? = nil) async throws
        -> (status: Int, headers: [String: String], json: [String: Any]) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await http.execute(request, timeout: .seconds(10))
        let data = Data((try await response.body.collect(upTo: 16 << 20)).readableBytesView)
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return (Int(response.status.code), fields, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }

    /// Creates a connected account (Stripe's `POST /v1/accounts`), for transfers and reads.
    func createAccount() async throws -> String {
        let answer = try await raw("POST", "/stripe/v1/accounts", headers: Self.stripeHeaders, body: "type=express&country=US")
        return try XCTUnwrap(answer.json["id"] as? String)
    }

    static let stripeHeaders = ["Authorization": "Bearer sk_test_sandbox",
                                "Content-Type": "application/x-www-form-urlencoded"]
}

/// Whether connectors in a test share a rate limit through the test Redis.
enum RedisClientProvider {
    case none
    case testRedis

    func client() throws -> RedisClient? {
        switch self {
        case .none: return nil
        case .testRedis: return try TestEnvironment.redis()
        }
    }
}

import Redis
