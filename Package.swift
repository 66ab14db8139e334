// swift-tools-version:6.2
import PackageDescription

// Targets follow the pipeline: ingest → price → store → aggregate → present.
// TallyCore holds the domain (no I/O); adapters sit at the edges.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "tally",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tally", targets: ["tally"]),
        // For Swift services that report their LLM calls to Tally (docs/swift-client.md).
        .library(name: "TallyClient", targets: ["TallyClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/JohnSundell/Plot.git", from: "0.14.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.1.4"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
    ],
    targets: [
        .target(name: "TallyCore", swiftSettings: strict),
        // The client a Swift service links to report its LLM calls: an actor that batches and retries, a Service.
        // No dependency on Tally's other targets (docs/swift-client.md).
        .target(
            name: "TallyClient",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Crypto: `tally import` names an event without an id by its line's SHA-256.
        .target(
            name: "TallyIngest", dependencies: ["TallyCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .target(name: "TallyAggregate", dependencies: ["TallyCore"], swiftSettings: strict),
        .target(name: "TallyPrice", dependencies: ["TallyCore"], swiftSettings: strict),
        .target(name: "TallyProviders", dependencies: ["TallyCore"], swiftSettings: strict),
        // Forecasts: pure statistics over daily cost series, no I/O (issue 18).
        .target(name: "TallyForecast", dependencies: ["TallyCore"], swiftSettings: strict),
        // A small PDF writer (TrueType subsets, tables, vector charts) for receipts and statements (issue 20): no
        // dependencies, deterministic bytes.
        .target(name: "TallyPDF", swiftSettings: strict),
        // Content safety and answer quality (issue 21): detectors, a regex engine in linear time, redaction, quality
        // flags. Pure: the gateway runs them in flight, nothing is stored.
        .target(name: "TallySafety", dependencies: ["TallyCore"], swiftSettings: strict),
        // OpenTelemetry traces (issue 22): the OTLP protobuf messages (generated once by scripts/generate-otlp and
        // committed) and GenAI spans → usage events. Pure: the server's receiver does the HTTP.
        .target(
            name: "TallyOTLP",
            dependencies: ["TallyCore", "TallyIngest", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Protos"],
            swiftSettings: strict
        ),
        // Receipts and statements as text, CSV and PDF, from plain models (issue 20); DejaVu Sans compiled in.
        .target(name: "TallyDocuments", dependencies: ["TallyCore", "TallyPDF"], swiftSettings: strict),
        .target(
            name: "TallyMail",
            dependencies: [
                "TallyCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(name: "TallyStoreSQL", dependencies: ["TallyCore", "TallyAggregate"], swiftSettings: strict),
        .target(
            name: "TallyStoreSQLite",
            dependencies: ["TallyCore", "TallyAggregate", "TallyStoreSQL", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "GRDBSQLite", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .target(
            name: "TallyStorePostgres",
            dependencies: [
                "TallyCore", "TallyAggregate", "TallyStoreSQL",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Services: accounts, vault, pricing, sync, ledger, janitor. No HTTP framework.
        .target(
            name: "TallyServices",
            dependencies: [
                "TallyCore", "TallyPrice", "TallyAggregate", "TallyProviders", "TallyMail", "TallyForecast",
                "TallyDocuments", "TallySafety",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: strict
        ),
        // The HTTP plumbing the gateway and the server share: request context, authentication, the one error mapper.
        .target(
            name: "TallyHTTP",
            dependencies: [
                "TallyCore", "TallyServices",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TallyGateway",
            dependencies: [
                "TallyCore", "TallyIngest", "TallyPrice", "TallyProviders", "TallyServices", "TallyHTTP", "TallySafety",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            swiftSettings: strict
        ),
        // Server-rendered pages: models, queries and Plot views. No HTTP framework.
        .target(
            name: "TallyWeb",
            dependencies: [
                "TallyCore", "TallyPrice", "TallyAggregate", "TallyServices", "TallyForecast", "TallyDocuments",
                .product(name: "Plot", package: "Plot"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // The composition root, configuration, controllers and JSON presenters.
        .target(
            name: "TallyServer",
            dependencies: [
                "TallyCore", "TallyIngest", "TallyPrice", "TallyAggregate", "TallyStoreSQL", "TallyStoreSQLite",
                "TallyStorePostgres", "TallyProviders", "TallyMail", "TallyServices", "TallyHTTP", "TallyGateway", "TallyWeb",
                "TallyForecast", "TallyDocuments", "TallyOTLP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            exclude: ["Resources/openapi.json"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "tally",
            // Every module its files import.
            dependencies: [
                "TallyServer", "TallyServices", "TallyCore", "TallyPrice", "TallyForecast",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // Fixtures and snapshots shared by the test targets; no product depends on it.
        .target(
            name: "TallyTestSupport",
            dependencies: [
                "TallyCore", "TallyStoreSQL", "TallyStoreSQLite", "TallyStorePostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TallyTestSupport",
            swiftSettings: strict
        ),
        // Against a running `tally` (TALLY_BIN, or the one `swift build` puts beside the test bundle) and a NIO stand-in.
        .testTarget(
            name: "TallyClientTests",
            dependencies: [
                "TallyClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "TallyForecastTests", dependencies: ["TallyCore", "TallyForecast"], swiftSettings: strict),
        .testTarget(name: "TallyPDFTests", dependencies: ["TallyPDF"], swiftSettings: strict),
        .testTarget(
            name: "TallyOTLPTests",
            dependencies: ["TallyCore", "TallyOTLP", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict),
        .testTarget(name: "TallySafetyTests", dependencies: ["TallyCore", "TallySafety"], swiftSettings: strict),
        .testTarget(
            name: "TallyDocumentsTests", dependencies: ["TallyCore", "TallyPDF", "TallyDocuments"], swiftSettings: strict),
        .testTarget(name: "TallyMailTests", dependencies: ["TallyMail"], swiftSettings: strict),
        .testTarget(name: "TallyPriceTests", dependencies: ["TallyCore", "TallyProviders", "TallyPrice"], swiftSettings: strict),
        .testTarget(name: "TallyCoreTests", dependencies: ["TallyCore", "TallyIngest", "TallyProviders", "TallyAggregate"], swiftSettings: strict),
        .testTarget(name: "TallyProvidersTests", dependencies: ["TallyCore", "TallyProviders"], swiftSettings: strict),
        .testTarget(name: "TallyIngestTests", dependencies: ["TallyCore", "TallyIngest"], swiftSettings: strict),
        .testTarget(name: "TallyAggregateTests", dependencies: ["TallyCore", "TallyAggregate"], swiftSettings: strict),
        .testTarget(
            name: "TallyServicesTests",
            dependencies: [
                "TallyCore", "TallyPrice", "TallyServices", "TallyDocuments",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TallyStoreContractTests",
            dependencies: ["TallyCore", "TallyPrice", "TallyAggregate", "TallyStoreSQLite", "TallyStorePostgres", "TallyServices",
                           "TallyGateway", "TallyIngest", "TallyTestSupport"],
            swiftSettings: strict
        ),
        // The gateway alone: its rules, its steps, and the whole controller against a live upstream on port 0.
        .testTarget(
            name: "TallyGatewayTests",
            dependencies: [
                "TallyGateway", "TallyCore", "TallyIngest", "TallyProviders", "TallyPrice", "TallyServices", "TallyHTTP",
                "TallyStoreSQL", "TallyStoreSQLite", "TallyTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TallyWebTests",
            dependencies: ["TallyWeb", "TallyCore", "TallyPrice", "TallyAggregate", "TallyDocuments", "TallyTestSupport"],
            exclude: ["Snapshots"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TallyServerTests",
            dependencies: [
                "TallyServer", "TallyStoreSQL", "TallyStoreSQLite", "TallyStorePostgres", "TallyAggregate", "TallyProviders",
                "TallyPrice", "TallyCore",
                "TallyIngest", "TallyServices", "TallyHTTP", "TallyGateway", "TallyWeb", "TallyTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
