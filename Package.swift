// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "kontor",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kontor-server", targets: ["kontor-server"]),
        .executable(name: "kontorctl", targets: ["kontorctl"]),
        .executable(name: "kontor-agent", targets: ["kontor-agent"]),
        .executable(name: "kontor-bench", targets: ["kontor-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-structured-headers.git", from: "1.7.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // Domain and wire types, JSON coders, RFC 9421 signing, pure policy logic. No I/O.
        .target(
            name: "KontorCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers"),
            ],
            swiftSettings: swiftSettings
        ),
        // Profiles in YAML: parsing with file/line/field errors.
        .target(
            name: "KontorProfiles",
            dependencies: ["KontorCore", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        // Small storage protocols; every backend conforms and passes Tests/KontorStoreTests.
        .target(name: "KontorStore", dependencies: ["KontorCore"], swiftSettings: swiftSettings),
        .target(
            name: "KontorSQLite",
            dependencies: ["KontorStore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // The same store on PostgreSQL, for several server instances.
        .target(
            name: "KontorPostgres",
            dependencies: [
                "KontorStore", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KontorServer",
            dependencies: [
                "KontorCore", "KontorStore", "KontorSQLite", "KontorPostgres", "KontorProfiles", "KontorOIDC", "CKontorLinux",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            // The admin console's templates, stylesheet and script are compiled into the binary.
            resources: [.embedInCode("Console/Templates"), .embedInCode("Console/Static")],
            swiftSettings: swiftSettings
        ),
        // HTTP clients of the admin API and the device API, shared by kontorctl, the agent and the benchmark,
        // and their HTTP/1.1 transport on NIO. Not AsyncHTTPClient: the agent links this (docs/benchmarks.md).
        .target(
            name: "KontorClient",
            dependencies: [
                "KontorCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KontorCLI",
            dependencies: [
                "KontorCore", "KontorClient", "KontorProfiles",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // Linux system calls Glibc's module lacks (pidfds, statx mount IDs), as static inline C wrappers.
        .target(name: "CKontorLinux"),
        // The Linux agent: enrollment, the poll loop, state on disk, status. Neither AsyncHTTPClient nor
        // swift-service-lifecycle: 6.3 MB of the binary for one connection a minute and one signal handler.
        .target(
            name: "KontorAgent",
            dependencies: [
                "KontorCore", "KontorClient", "CKontorLinux",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "kontor-agent", dependencies: ["KontorAgent"], swiftSettings: swiftSettings),
        .executableTarget(name: "kontor-server", dependencies: ["KontorServer"], swiftSettings: swiftSettings),
        .executableTarget(name: "kontorctl", dependencies: ["KontorCLI"], swiftSettings: swiftSettings),
        // The fleet simulator and load generator (docs/benchmarks.md). Nothing in the product depends on it.
        .executableTarget(
            name: "kontor-bench",
            dependencies: [
                "KontorCore", "KontorClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "KontorCoreTests",
            dependencies: ["KontorCore", "KontorProfiles", "KontorTestSupport", .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KontorStoreTests",
            dependencies: ["KontorStore", "KontorSQLite", "KontorPostgres", "KontorTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KontorServerTests",
            dependencies: [
                "KontorServer", "KontorClient", "KontorPostgres", "KontorOIDC", "KontorTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                // For the tests' own store hooks (raw SQL as an attacker), which production stores do not have.
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KontorClientTests",
            dependencies: [
                "KontorClient", "KontorTestSupport",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // OpenID Connect for the server: JOSE (JWK, JWS with RS256/ES256/EdDSA) and ID-token checks. Apart from
        // KontorCore so the agent never links CryptoExtras.
        .target(
            name: "KontorOIDC",
            dependencies: [.product(name: "Crypto", package: "swift-crypto"), .product(name: "CryptoExtras", package: "swift-crypto")],
            swiftSettings: swiftSettings),
        // What more than one test target uses (a loop-mounted ext4); never part of a product.
        .target(name: "KontorTestSupport", path: "Tests/KontorTestSupport", swiftSettings: swiftSettings),
        .testTarget(
            name: "KontorAgentTests",
            dependencies: [
                "KontorAgent", "KontorServer", "KontorTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "KontorCore", "KontorClient", "KontorCLI", "KontorProfiles", "KontorSQLite", "KontorTestSupport", "KontorOIDC", "KontorServer", "kontor-server",
                "kontorctl",
                "kontor-agent",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
