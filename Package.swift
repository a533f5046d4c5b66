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
    ],
    dependencies: [],
    targets: [
        // Debian's liblmdb-dev; tools/test and tools/serve install it when missing.
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .target(name: "LMDB", dependencies: ["CLMDB"], swiftSettings: optimized),
        .target(name: "BinaryCodec", swiftSettings: optimized),
        .target(name: "LedgerJSON", swiftSettings: optimized),
        .target(name: "EventLog", dependencies: ["LMDB", "BinaryCodec"], swiftSettings: optimized),
        .target(name: "Commerce", dependencies: ["BinaryCodec", "LedgerJSON"], swiftSettings: optimized),
        .target(name: "CommerceApp", dependencies: ["LMDB", "EventLog", "Commerce", "BinaryCodec"], swiftSettings: optimized),
        .executableTarget(
            name: "ledger-benchmark",
            dependencies: ["CommerceApp", "Commerce", "EventLog", "LMDB"],
            path: "tools/ledger-benchmark"
        ),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB"]),
        .testTarget(name: "EventLogTests", dependencies: ["EventLog", "LMDB", "BinaryCodec"]),
        .testTarget(name: "CommerceTests", dependencies: ["Commerce", "BinaryCodec", "LedgerJSON"], exclude: ["Fixtures"]),
        .testTarget(name: "CommerceAppTests", dependencies: ["CommerceApp", "Commerce", "EventLog", "LMDB", "BinaryCodec"]),
    ]
)
