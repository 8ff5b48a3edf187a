// swift-tools-version:6.0
// CityOS Workers — the integration layer of the CityOS commerce platform.
// The target list below is the architecture: each part depends downward only.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "cityos-workers",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cityos", targets: ["cityos"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // The only place with C: a module map over Debian's libhiredis-dev (0.14).
        .systemLibrary(
            name: "CHiredis",
            path: "Sources/CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // How a URL is shown where people read it: its password masked, one rule for every module.
        .target(
            name: "Redaction",
            swiftSettings: swiftSettings
        ),
        // Redis binding: hiredis parses replies, a SwiftNIO channel owns the socket.
        .target(
            name: "Redis",
            dependencies: [
                "CHiredis", "Redaction",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Settings from Config/cityos.yaml, overridden by CITYOS_* environment variables.
        .target(
            name: "Config",
            dependencies: ["Redaction", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        // The reliable queue engine: envelopes, typed job kinds, fetch, acks, retries,
        // dead letters, heartbeats and recovery, the worker pool. Knows neither HTTP nor the domain.
        .target(
            name: "Queue",
            dependencies: [
                "Redis",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // PostgreSQL: migrations, tenant transactions (RLS), execution ledger, outbox relay.
        .target(
            name: "Store",
            dependencies: [
                "Queue", "Redaction",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Migrations")],
            swiftSettings: swiftSettings
        ),
        // Cron expressions, schedule files (Schedules/*.yaml), catch-up policies, and the runtime
        // that enqueues each tick once however many scheduler processes run.
        .target(
            name: "Scheduler",
            dependencies: ["Queue", "Redis", .product(name: "Yams", package: "Yams"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // The typed job handlers, one folder per family: the business of the platform.
        .target(
            name: "Jobs",
            dependencies: ["Queue", "Store", "Connectors"],
            path: "Jobs",
            swiftSettings: swiftSettings
        ),
        // Clients of the outside services (Stripe, Medusa, Payload, Fleetbase, ERPNext): one
        // transport with timeouts, bounded retries and a rate limit shared in Redis.
        .target(
            name: "Connectors",
            dependencies: [
                "Redis", "Config",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The server that plays the outside services for local runs and tests: stateful,
        // idempotent like Stripe, scriptable failures, signed webhooks back to the ingress.
        .target(
            name: "Sandbox",
            dependencies: [
                "Config",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTTP ingress and operations API: signed webhooks in, enqueue, status, dead letters,
        // metrics, health, the OpenAPI document and the operator dashboard. Knows no job kind.
        .target(
            name: "Ingress",
            dependencies: [
                "Config", "Redis", "Queue",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.embedInCode("Resources/openapi.yaml"), .embedInCode("Resources/dashboard.html")],
            swiftSettings: swiftSettings
        ),
        // The command-line executable: run, serve, work, migrate, config, enqueue, status, dead, bench.
        .executableTarget(
            name: "cityos",
            dependencies: [
                "Config", "Redis", "Queue", "Store", "Scheduler", "Jobs", "Connectors", "Sandbox", "Ingress",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                // `cityos bench framework-server`: the bare framework, measured beside the ingress.
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        // Helpers that start the platform's pieces against the test Redis and PostgreSQL.
        .target(
            name: "CityOSTesting",
            dependencies: ["Config", "Redis", "Queue", "Store", "Jobs", .product(name: "Logging", package: "swift-log")],
            path: "Tests/CityOSTesting",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RedisTests",
            dependencies: ["Redis", "CityOSTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConfigTests",
            dependencies: ["Config", "Redaction"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SchedulerTests",
            dependencies: ["Scheduler"],
            swiftSettings: swiftSettings
        ),
        // The scheduler runtime against a real Redis, in-process and as `cityos schedule` processes.
        .testTarget(
            name: "SchedulerRuntimeTests",
            dependencies: ["Scheduler", "Queue", "Redis", "Jobs", "CityOSTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "QueueTests",
            dependencies: ["Queue", "Jobs", "Connectors", "CityOSTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IngressTests",
            dependencies: [
                "Ingress", "Jobs", "CityOSTesting",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StoreTests",
            dependencies: ["Store", "Jobs", "CityOSTesting"],
            swiftSettings: swiftSettings
        ),
        // Commissions and vendor payouts against real PostgreSQL, Redis and the sandbox, with
        // `cityos work` processes killed between a Stripe transfer and its commit.
        .testTarget(
            name: "MoneyTests",
            dependencies: [
                "Jobs", "Store", "Queue", "Scheduler", "Connectors", "Sandbox", "Config", "CityOSTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Medusa ⇄ Payload product sync: sandbox → signed webhooks → ingress → workers → sandbox,
        // reconciliation over thousands of products, a reconciliation killed halfway.
        endToEndTests("SyncTests"),
        // Webhook events end to end: signed posts to a running ingress, real workers, the inbox,
        // each event family's handlers against PostgreSQL and the sandbox.
        endToEndTests("WebhookTests"),
        // Plans, subscriptions, invoices, dunning, payment-intent webhooks and money reconciliation
        // against real PostgreSQL, Redis, the sandbox and a running ingress, on a controlled clock.
        endToEndTests("BillingTests"),
        // Connectors against the sandbox over real HTTP, and the rate limit across processes.
        .testTarget(
            name: "ConnectorsTests",
            dependencies: [
                "Connectors", "Sandbox", "CityOSTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

/// A test target that runs the platform end to end: signed webhooks through a running ingress,
/// real workers, PostgreSQL, Redis and the sandbox playing the outside services.
func endToEndTests(_ name: String) -> Target {
    .testTarget(
        name: name,
        dependencies: [
            "Jobs", "Store", "Queue", "Connectors", "Sandbox", "Config", "Ingress", "CityOSTesting",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
        ],
        swiftSettings: swiftSettings
    )
}
