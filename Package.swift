// swift-tools-version: 6.2
// ragdb: an embedded retrieval database for retrieval-augmented generation.
//
// Module graph (arrows point down only; see ../shared/ARCHITECTURE.md and README.md):
//   ragdb → RAGDBCLI → RAGDBImport → RAGDB → RAGDBChunks, RAGDBSparse, RAGDBVector, RAGDBNgram,
//   RAGDBKVCache → RAGDBStorage → CRAGDBLMDB, CRAGDBLZ4; RAGDB → RAGDBText (pure).
// Only RAGDBStorage touches LMDB and LZ4; CRAGDBKernels (C SIMD and byte kernels) serves
// Vector, Ngram and KVCache; CRAGDBZlib serves Import; CRAGDBEdit (libedit) serves the shell.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "ragdb",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RAGDB", targets: ["RAGDB"]),
        .executable(name: "ragdb", targets: ["ragdb"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CRAGDBLMDB", pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"]), .brew(["lmdb"])]),
        .systemLibrary(
            name: "CRAGDBLZ4", pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"]), .brew(["lz4"])]),
        .systemLibrary(
            name: "CRAGDBZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .systemLibrary(
            name: "CRAGDBEdit", pkgConfig: "libedit",
            providers: [.apt(["libedit-dev"]), .brew(["libedit"])]),
        .target(
            name: "RAGDBStorage", dependencies: ["CRAGDBLMDB", "CRAGDBLZ4"],
            swiftSettings: strict),
        .target(name: "RAGDBChunks", dependencies: ["RAGDBStorage"], swiftSettings: strict),
        .target(name: "RAGDBText", dependencies: ["CRAGDBKernels"], swiftSettings: strict),
        .target(name: "CRAGDBKernels"),
        .target(name: "RAGDBVector", dependencies: ["RAGDBStorage", "CRAGDBKernels"], swiftSettings: strict),
        .target(name: "RAGDBSparse", dependencies: ["RAGDBStorage"], swiftSettings: strict),
        .target(name: "RAGDBNgram", dependencies: ["RAGDBStorage", "CRAGDBKernels"], swiftSettings: strict),
        .target(name: "RAGDBKVCache", dependencies: ["RAGDBStorage", "CRAGDBKernels"], swiftSettings: strict),
        .target(name: "RAGDB", dependencies: ["RAGDBStorage", "RAGDBChunks", "RAGDBText", "RAGDBVector", "RAGDBSparse", "RAGDBNgram", "RAGDBKVCache"], swiftSettings: strict),
        .target(name: "RAGDBImport", dependencies: ["RAGDB", "CRAGDBZlib", "CRAGDBKernels"], swiftSettings: strict),
        .target(
            name: "RAGDBCLI",
            dependencies: ["RAGDB", "RAGDBImport", "CRAGDBEdit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),
        .executableTarget(name: "ragdb", dependencies: ["RAGDB", "RAGDBCLI"], swiftSettings: strict),

        .target(name: "RAGDBTestSupport", path: "Tests/RAGDBTestSupport", swiftSettings: strict),
        .testTarget(
            name: "RAGDBStorageTests", dependencies: ["RAGDBStorage", "RAGDBTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "RAGDBTextTests", dependencies: ["RAGDBText", "RAGDBTestSupport", "CRAGDBKernels"],
            exclude: ["make_stemmer_fixture.py"], swiftSettings: strict),
        .testTarget(
            name: "RAGDBChunksTests", dependencies: ["RAGDBChunks", "RAGDBStorage", "RAGDBTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "RAGDBTests", dependencies: ["RAGDB", "RAGDBStorage", "RAGDBNgram", "RAGDBVector", "RAGDBTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "RAGDBSparseTests", dependencies: ["RAGDBSparse", "RAGDBStorage", "RAGDBTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "RAGDBVectorTests", dependencies: ["RAGDBVector", "CRAGDBKernels", "RAGDBTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "RAGDBNgramTests", dependencies: ["RAGDBNgram", "RAGDBStorage", "CRAGDBKernels", "RAGDBTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "RAGDBKVCacheTests", dependencies: ["RAGDBKVCache", "RAGDBStorage", "CRAGDBKernels", "RAGDBTestSupport"],
            exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(
            name: "RAGDBImportTests", dependencies: ["RAGDBImport", "RAGDBTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "RAGDBCLITests", dependencies: ["RAGDBCLI", "RAGDB", "RAGDBStorage", "RAGDBTestSupport"],
            swiftSettings: strict),
    ]
)

// Benchmarks are declared only when RAGDB_BENCHMARKS=1, so normal builds and CI never compile
// them (Benchmarks/run-storage.sh sets it and builds in release).
if Context.environment["RAGDB_BENCHMARKS"] == "1" {
    package.targets.append(
        .executableTarget(
            name: "storage-bench",
            dependencies: ["RAGDB", "RAGDBChunks", "RAGDBStorage", "CRAGDBLMDB"],
            path: "Benchmarks/StorageBenchmarks"))
    package.targets.append(
        .executableTarget(
            name: "dense-bench",
            dependencies: ["RAGDBVector", "RAGDBImport"],
            path: "Benchmarks/DenseBenchmarks"))
    package.targets.append(
        .executableTarget(
            name: "ann-probe",
            dependencies: ["RAGDB", "RAGDBVector", "RAGDBImport"],
            path: "Benchmarks/ANNProbe"))
    package.targets.append(
        .executableTarget(
            name: "kv-bench",
            dependencies: ["RAGDB", "RAGDBStorage"],
            path: "Benchmarks/KVBenchmarks"))
    package.targets.append(
        .executableTarget(
            name: "ngram-bench",
            dependencies: ["RAGDB"],
            path: "Benchmarks/NgramBenchmarks"))
}
