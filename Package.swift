// swift-tools-version: 6.1
import PackageDescription

/// Our hot paths cross modules (the writer calls the generic domain code), so release builds
/// let the optimizer specialize and inline across them.
let optimized: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "commerce-ledger",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "CommerceApp", targets: ["CommerceApp"]),
        .executable(name: "commerce", targets: ["commerce"]),
        .executable(name: "commerce-rebuild", targets: ["commerce-rebuild"]),
        .executable(name: "commerce-log", targets: ["commerce-log"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        // Debian's liblmdb-dev; tools/test and tools/serve install it when missing.
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .target(name: "LMDB", dependencies: ["CLMDB"], swiftSettings: optimized),
        // Debian's libhiredis-dev, the C client of Redis; tools/bootstrap installs it.
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(name: "Redis", dependencies: ["CHiredis"], swiftSettings: optimized),
        .target(name: "CommerceRedis", dependencies: ["Redis", "CommerceApp", "Commerce", "EventLog", "BinaryCodec", "LedgerJSON"], swiftSettings: optimized),
        .target(name: "BinaryCodec", swiftSettings: optimized),
        .target(name: "LedgerJSON", swiftSettings: optimized),
        .target(name: "EventLog", dependencies: ["LMDB", "BinaryCodec"], swiftSettings: optimized),
        .target(name: "Commerce", dependencies: ["BinaryCodec", "LedgerJSON"], swiftSettings: optimized),
        .target(name: "CommerceApp", dependencies: ["LMDB", "EventLog", "Commerce", "BinaryCodec", "LedgerJSON"], swiftSettings: optimized),
        .target(
            name: "CommerceHTTP",
            dependencies: [
                "CommerceApp", "Commerce", "EventLog", "BinaryCodec", "LedgerJSON",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            resources: [.copy("Resources/openapi.yaml"), .copy("Resources/dashboard.html"), .copy("Resources/dashboard.js"), .copy("Resources/dashboard.css")],
            swiftSettings: optimized
        ),
        .target(
            name: "CommerceCLI",
            dependencies: [
                "CommerceHTTP", "CommerceApp", "Commerce", "LedgerJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: optimized
        ),
        .executableTarget(
            name: "commerce-rebuild",
            dependencies: ["CommerceCLI", "CommerceApp", "Commerce", "LedgerJSON", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: optimized
        ),
        .executableTarget(
            name: "commerce-log",
            dependencies: [
                "CommerceCLI", "CommerceHTTP", "CommerceApp", "CommerceRedis", "Redis", "Commerce", "EventLog", "LMDB", "BinaryCodec", "LedgerJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: optimized
        ),
        .executableTarget(
            name: "commerce",
            dependencies: [
                "CommerceCLI", "CommerceHTTP", "CommerceApp", "CommerceRedis", "Redis", "Commerce", "EventLog", "LedgerJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: optimized
        ),
        .executableTarget(
            name: "ledger-benchmark",
            dependencies: ["CommerceApp", "Commerce", "EventLog", "LMDB", "SeededRandom"],
            path: "tools/ledger-benchmark"
        ),
        .executableTarget(
            name: "bus-benchmark",
            dependencies: ["CommerceApp", "CommerceRedis", "Redis", "Commerce", "SeededRandom"],
            path: "tools/bus-benchmark"
        ),
        .target(name: "SeededRandom"),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB", "SeededRandom"]),
        // A real redis-server started (and stopped by PID) by the tests that need one.
        .target(name: "RedisTestSupport", dependencies: ["Redis"], path: "Tests/RedisTestSupport"),
        .testTarget(name: "RedisTests", dependencies: ["Redis", "RedisTestSupport", "CommerceRedis", "CommerceApp", "Commerce", "EventLog"]),
        .testTarget(name: "EventLogTests", dependencies: ["EventLog", "LMDB", "BinaryCodec"]),
        .testTarget(name: "CommerceTests", dependencies: ["Commerce", "BinaryCodec", "LedgerJSON"], exclude: ["Fixtures"]),
        .testTarget(
            name: "CommerceHTTPTests",
            dependencies: [
                "CommerceHTTP", "CommerceApp", "Commerce", "LedgerJSON",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "CommerceCLITests", dependencies: ["LedgerJSON", "LMDB", "BinaryCodec", "CommerceApp", "Commerce", "SeededRandom", "Redis", "RedisTestSupport"]),
        .testTarget(name: "CommerceAppTests", dependencies: ["CommerceApp", "Commerce", "EventLog", "LMDB", "BinaryCodec", "SeededRandom"]),
    ]
)
