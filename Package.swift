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
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
    ],
    targets: [
        // System libraries: a module map and a shim header each, nothing else.
        .systemLibrary(name: "CZMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "COpenBLAS", providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CProtobufC", providers: [.apt(["libprotobuf-c-dev"])]),

        // What the test targets share: the seeded generator (Datasets' SplitMix64) and its Floats.
        .target(name: "TestSupport", dependencies: ["Datasets"], path: "Tests/TestSupport", swiftSettings: swiftSettings),

        // Core: no I/O.
        .target(name: "Tensors", swiftSettings: swiftSettings),
        .testTarget(
            name: "TensorsTests", dependencies: ["Tensors", "Checkpoint"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),

        // Numerical kernels over buffers: BLAS/LAPACK wrappers, statistics, quantizers, packing.
        .target(name: "Kernels", dependencies: ["COpenBLAS", "Tensors"], swiftSettings: swiftSettings),
        .testTarget(
            name: "KernelsTests", dependencies: ["Kernels", "Formats", "Tensors", "Checkpoint", "TestSupport"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),

        // A model's configuration (config.json's architecture fields), parsed from bytes: what both
        // the files and the forward pass need, without either knowing the other.
        .target(name: "ModelConfiguration", dependencies: ["Tensors"], swiftSettings: swiftSettings),

        // Files: safetensors, sharded checkpoints, reading a model's config.json.
        .target(name: "Checkpoint", dependencies: ["ModelConfiguration", "Tensors"], swiftSettings: swiftSettings),

        // Checkpoint formats of quantized weights, in one place: compressed-tensors (pack-quantized,
        // int-quantized, its quantization_config, the dequantizing reader) and GPTQ v1 packing.
        .target(name: "Formats", dependencies: ["Kernels", "Checkpoint", "Tensors"], swiftSettings: swiftSettings),
        .testTarget(
            name: "CheckpointTests", dependencies: ["TestSupport", "ModelConfiguration", "Checkpoint"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),

        // Tokenizers from tokenizer.json: byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM) and
        // SentencePiece-style BPE with byte fallback (Llama 2, Mistral). Foundation only.
        .target(name: "Tokenizer", swiftSettings: swiftSettings),
        .testTarget(
            name: "TokenizerTests", dependencies: ["Tokenizer", "TestSupport"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),

        // Calibration and evaluation data: token files, text and JSON lines through a tokenizer.
        .target(name: "Datasets", dependencies: ["Tokenizer"], swiftSettings: swiftSettings),
        .testTarget(
            name: "DatasetsTests", dependencies: ["Datasets", "Tokenizer"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),

        // The job protocol: what a coordinator asks of a worker and what it answers (WorkerRequest,
        // WorkerReply and the values they carry), and the coordinator's handle on a worker
        // (WorkerConnection). Values only; both sides depend on it, neither on the other.
        .target(name: "JobProtocol", dependencies: ["Model", "Kernels", "Tensors"], swiftSettings: swiftSettings),

        // The worker's side of the job: its samples' hidden states, capture, solve, apply, and the
        // serial queue it runs on (SerialWorker).
        .target(name: "WorkerCore", dependencies: ["ModelConfiguration", "JobProtocol", "Model", "Kernels", "Checkpoint", "Tensors"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WorkerCoreTests", dependencies: ["WorkerCore", "JobProtocol", "Model", "Kernels", "Tensors", "TestSupport"],
            swiftSettings: swiftSettings),

        // The calibration job: recipe, planning, merging, the coordinator's side of the pipeline.
        .target(
            name: "CoordinatorCore",
            dependencies: ["ModelConfiguration", "JobProtocol", "Formats", "Model", "Kernels", "Checkpoint", "Tensors", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CoordinatorCoreTests", dependencies: ["TestSupport", "ModelConfiguration", "CoordinatorCore", "JobProtocol", "WorkerCore", "Formats", "Model", "Kernels", "Checkpoint", "Tensors"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),

        // The decoder forward pass (Llama, Mistral, Qwen2, Qwen3) on BLAS, and perplexity evaluation.
        .target(name: "Model", dependencies: ["ModelConfiguration", "Kernels", "Checkpoint", "Tensors"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ModelTests", dependencies: ["TestSupport", "ModelConfiguration", "Model", "Checkpoint", "Kernels", "Tensors", "Datasets"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),

        // The wire: protoc-c output for Protocols/calibrate.proto (generated, checked in), the
        // codec between it and the session messages and job protocol values, ZeroMQ and
        // in-process transports, and the worker pool and server.
        // C targets do not autolink a system library's module map, hence the explicit linker setting.
        .target(name: "CWire", dependencies: ["CProtobufC"], linkerSettings: [.linkedLibrary("protobuf-c")]),
        .target(name: "Wire", dependencies: ["CWire", "JobProtocol", "Model", "Kernels", "Tensors"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WireTests", dependencies: ["Wire", "JobProtocol", "Model", "Kernels", "ParserFuzzing", "Tensors", "TestSupport"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .target(name: "Transport", dependencies: ["CZMQ", "Tensors"], swiftSettings: swiftSettings),
        .testTarget(name: "TransportTests", dependencies: ["Transport"], swiftSettings: swiftSettings),
        .target(name: "Cluster", dependencies: ["Wire", "JobProtocol", "Transport", "Tensors"], swiftSettings: swiftSettings),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Wire", "JobProtocol", "Model", "Transport", "TestSupport"], swiftSettings: swiftSettings),

        // GGUF files (llama.cpp's format): reading, dequantization, import as a Hugging Face checkpoint.
        .target(name: "GGUF", dependencies: ["Checkpoint", "ModelConfiguration", "Tensors"], swiftSettings: swiftSettings),
        .testTarget(
            name: "GGUFTests", dependencies: ["ModelConfiguration", "GGUF", "Checkpoint", "Tensors", "Tokenizer"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),

        // Each side over the wire. The worker's: its job handler (CalibrationHandler, serving a
        // SerialWorker). The coordinator's: its connections to remote workers (RemoteWorker,
        // JobWorkers). Neither links the other.
        .target(name: "WorkerService", dependencies: ["Cluster", "Wire", "WorkerCore"], swiftSettings: swiftSettings),
        .target(name: "RemoteWorkers", dependencies: ["Cluster", "Wire", "JobProtocol", "Tensors"], swiftSettings: swiftSettings),
        .testTarget(
            name: "JobWireTests",
            dependencies: ["Transport", "TestSupport", "RemoteWorkers", "WorkerService", "WorkerCore", "JobProtocol", "Wire", "Cluster", "CoordinatorCore", "Kernels", "Model", "Tensors", "Checkpoint"],
            swiftSettings: swiftSettings),

        // Fuzzing: an entry point per parser of untrusted bytes (ParserFuzzing), the libFuzzer driver
        // that Tests/Fuzz/run.sh builds with --sanitize=fuzzer (a file replayer in a plain build),
        // and the replay of every seed and reproducer in the test suite.
        .target(
            name: "ParserFuzzing",
            dependencies: ["Checkpoint", "ModelConfiguration", "Tokenizer", "GGUF", "Cluster", "CoordinatorCore", "Datasets", "Wire", "CWire",
                           "JobProtocol", "Formats", "Kernels", "Model", "Tensors"],
            swiftSettings: swiftSettings),
        .executableTarget(name: "parser-fuzz", dependencies: ["ParserFuzzing"], path: "Tests/Fuzz/Driver", swiftSettings: swiftSettings),
        .testTarget(
            name: "ParserFuzzingTests", dependencies: ["ParserFuzzing", "CoordinatorCore", "Datasets", "GGUF", "Tokenizer", "Wire", "TestSupport"],
            resources: [.copy("Reproducers")], swiftSettings: swiftSettings),

        // The repository itself: docs/ARCHITECTURE.md's module table against the sources' imports.
        .testTarget(name: "RepositoryTests", dependencies: ["TestSupport"], swiftSettings: swiftSettings),

        // Executables: parse options, build a configuration, run.
        .executableTarget(
            name: "CoordinatorCLI",
            dependencies: ["ModelConfiguration", "Checkpoint", "Tensors", "Tokenizer", "Model", "Datasets", "Kernels", "Cluster", "Wire", "Transport", "CoordinatorCore", "Formats", "GGUF", "RemoteWorkers",
                           // Only for --in-process-workers (SerialWorker): the coordinator's one link to the worker's code.
                           "WorkerCore",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),
        .testTarget(name: "CoordinatorCLITests", dependencies: ["CoordinatorCLI", "CoordinatorCore", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: swiftSettings),
        .executableTarget(
            name: "WorkerCLI",
            dependencies: ["Cluster", "Wire", "Transport", "Kernels", "WorkerService", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "Benchmarks",
            dependencies: ["ModelConfiguration", "Tensors", "Kernels", "Model", "Checkpoint", "Tokenizer", "Wire", "Transport", "Cluster", "CoordinatorCore", "JobProtocol", "WorkerCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),
    ]
)
