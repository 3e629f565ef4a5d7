// swift-tools-version: 6.1
import PackageDescription

/// Settings shared by every Swift target: Swift 6 language mode (the tools version's default),
/// explicit existentials, imports visible only where declared, and code generation for the
/// machines we run on (haswell, i.e. x86-64-v3: AVX2, FMA, F16C — without it Float16 conversion and SIMD
/// arithmetic become library calls; see docs/ARCHITECTURE.md).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .unsafeFlags(["-target-cpu", "haswell"]),
]

let package = Package(
    name: "calibrate",
    products: [
        .executable(name: "coordinator", targets: ["CoordinatorCLI"]),
        .executable(name: "worker", targets: ["WorkerCLI"]),
        .executable(name: "calibrate-bench", targets: ["Benchmarks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        // System libraries: a module map and a shim header each, nothing else.
        .systemLibrary(name: "CZMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "COpenBLAS", providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CProtobufC", providers: [.apt(["libprotobuf-c-dev"])]),

        // Core: no I/O.
        .target(name: "Tensors", swiftSettings: swiftSettings),
        .testTarget(
            name: "TensorsTests", dependencies: ["Tensors", "Checkpoint"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),

        // Numerical kernels over buffers: BLAS/LAPACK wrappers, statistics, quantizers, packing.
        .target(name: "Kernels", dependencies: ["COpenBLAS", "Tensors"], swiftSettings: swiftSettings),
        .testTarget(
            name: "KernelsTests", dependencies: ["Kernels", "Tensors", "Checkpoint"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),

        // Files: safetensors, sharded checkpoints, model configs.
        .target(name: "Checkpoint", dependencies: ["Tensors"], swiftSettings: swiftSettings),
        .testTarget(
            name: "CheckpointTests", dependencies: ["Checkpoint"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),

        // Calibration and evaluation data: token files (text and tokenizers come with issue 8).
        .target(name: "Datasets", swiftSettings: swiftSettings),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"], swiftSettings: swiftSettings),

        // Executables: parse options, build a configuration, run.
        .executableTarget(
            name: "CoordinatorCLI",
            dependencies: ["Checkpoint", "Tensors", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "WorkerCLI",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "Benchmarks",
            dependencies: ["Tensors", "Kernels", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),
    ]
)
