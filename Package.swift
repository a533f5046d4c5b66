// swift-tools-version: 6.1
import PackageDescription

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
        .target(name: "LMDB", dependencies: ["CLMDB"]),
        .target(name: "BinaryCodec"),
        .target(name: "LedgerJSON"),
        .target(name: "EventLog", dependencies: ["LMDB", "BinaryCodec"]),
        .target(name: "Commerce", dependencies: ["BinaryCodec", "LedgerJSON"]),
        .target(name: "CommerceApp", dependencies: ["LMDB", "EventLog", "Commerce", "BinaryCodec"]),
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
