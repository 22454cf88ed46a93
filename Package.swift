// swift-tools-version:6.0
// swift-nmt: Transformer translation models in Swift (see README.md and Documentation/).
import PackageDescription

/// BLAS and LAPACKE come from the system: Debian's generic `libblas` (OpenBLAS once
/// installed) plus netlib LAPACKE on Linux, Accelerate on Apple platforms.
let blasLinkerSettings: [LinkerSetting] = [
    .linkedLibrary("blas", .when(platforms: [.linux])),
    .linkedLibrary("lapacke", .when(platforms: [.linux])),
    .linkedFramework("Accelerate", .when(platforms: [.macOS, .iOS, .tvOS, .watchOS, .visionOS])),
]

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let protobuf: Target.Dependency = .product(name: "SwiftProtobuf", package: "swift-protobuf")

let package = Package(
    name: "swift-nmt",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "NMT", targets: ["NMT"]),
        .library(name: "NMTTensor", targets: ["NMTTensor"]),
        .library(name: "NMTLayers", targets: ["NMTLayers"]),
        .library(name: "NMTTransformer", targets: ["NMTTransformer"]),
        .library(name: "NMTData", targets: ["NMTData"]),
        .library(name: "NMTAccelerator", targets: ["NMTAccelerator"]),
        .library(name: "NMTSchedule", targets: ["NMTSchedule"]),
        .library(name: "NMTInterop", targets: ["NMTInterop"]),
        // Open MPI data parallelism: its own product, so that importing NMT needs no MPI.
        .library(name: "NMTDistributed", targets: ["NMTDistributed"]),
        .executable(name: "nmt-demo", targets: ["nmt-demo"]),
        .executable(name: "nmt-prepare", targets: ["nmt-prepare"]),
        .executable(name: "nmt-train", targets: ["nmt-train"]),
        .executable(name: "nmt-train-distributed", targets: ["nmt-train-distributed"]),
        .executable(name: "nmt-translate", targets: ["nmt-translate"]),
        .executable(name: "nmt-bleu", targets: ["nmt-bleu"]),
        .executable(name: "nmt-evaluate", targets: ["nmt-evaluate"]),
        .executable(name: "nmt-average", targets: ["nmt-average"]),
        .executable(name: "nmt-export", targets: ["nmt-export"]),
        .executable(name: "nmt-bench-tensor", targets: ["nmt-bench-tensor"]),
        .executable(name: "nmt-bench-model", targets: ["nmt-bench-model"]),
        .executable(name: "nmt-bench-data", targets: ["nmt-bench-data"]),
        .executable(name: "nmt-bench-distributed", targets: ["nmt-bench-distributed"]),
        .executable(name: "nmt-bench-sentencepiece", targets: ["nmt-bench-sentencepiece"]),
        // The HTTP server: its own library and program, so that importing NMT never builds
        // Hummingbird and its dependencies.
        .library(name: "NMTServer", targets: ["NMTServer"]),
        .executable(name: "nmt-serve", targets: ["nmt-serve"]),
    ],
    dependencies: [
        // The runtime only: the Swift code generated from Protos/ is committed (see
        // Scripts/ci/generate-protos.sh), so no build plugin or protoc is needed.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // `swift package generate-documentation` (DocC); a plugin only, nothing links it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // nmt-serve only (NMTServer): HTTP, metrics, graceful shutdown.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // HTTP request parts for NMTServer's client deadlines (already a Hummingbird dependency).
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // Reading pytorch_model.bin (a zip) in NMTInterop.
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        // Every target lists each module it imports, none reached only through another.
        .systemLibrary(name: "CNMTBLAS", path: "Sources/CNMTBLAS"),
        // Element-wise kernels in C with AVX-512/AVX2 variants chosen at run time (no flags).
        .target(name: "CNMTKernels", path: "Sources/CNMTKernels"),
        .target(name: "NMTTensor", dependencies: ["CNMTBLAS", "CNMTKernels"], linkerSettings: blasLinkerSettings),
        .target(name: "NMTLayers", dependencies: ["NMTTensor", "CNMTKernels"]),
        .target(name: "NMTTransformer", dependencies: ["NMTLayers", "NMTTensor"]),
        // SentencePiece through Debian's libsentencepiece (the C++ library itself, behind a
        // small C shim; Scripts/ci/install-deps.sh installs libsentencepiece-dev).
        .target(
            name: "CNMTSentencePiece", path: "Sources/CNMTSentencePiece",
            linkerSettings: [.linkedLibrary("sentencepiece"), .linkedLibrary("sentencepiece_train")]),
        .target(name: "NMTData", dependencies: ["CNMTSentencePiece", protobuf]),
        .target(name: "NMTAccelerator", dependencies: ["CNMTKernels", "NMTLayers", "NMTTensor"]),
        // Open MPI (Debian's libopenmpi-dev, found with pkg-config; Scripts/ci/install-deps.sh).
        .systemLibrary(
            name: "CNMTMPI", path: "Sources/CNMTMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "NMTDistributed", dependencies: ["CNMTMPI", "NMTAccelerator"]),
        .target(
            name: "NMTSchedule",
            dependencies: ["NMTAccelerator", "NMTTransformer", "NMTData", "NMTLayers", "NMTTensor", logging]),
        // Other toolkits' model formats: Hugging Face Marian directories, PyTorch checkpoints.
        .target(
            name: "NMTInterop",
            dependencies: [
                "NMTSchedule", "NMTTransformer", "NMTData", "NMTLayers", "NMTTensor",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]),
        .target(
            name: "NMT",
            dependencies: [
                "NMTTensor", "NMTLayers", "NMTTransformer", "NMTData", "NMTAccelerator", "NMTSchedule", "NMTInterop",
            ]),

        .target(
            name: "NMTServer",
            dependencies: [
                "NMTSchedule", "NMTTransformer", logging,
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]),

        // Options and helpers the example programs share (not a product).
        .target(name: "NMTCommandLine", dependencies: ["NMT", argumentParser, logging], path: "Examples/Shared"),
        .executableTarget(name: "nmt-demo", dependencies: ["NMT", "NMTCommandLine", argumentParser], path: "Examples/nmt-demo"),
        .executableTarget(
            name: "nmt-prepare", dependencies: ["NMTData", "NMTSchedule", "NMTCommandLine", argumentParser],
            path: "Examples/nmt-prepare"),
        // One process, no MPI library; nmt-train-distributed is the same run over Open MPI.
        .executableTarget(
            name: "nmt-train", dependencies: ["NMT", "NMTCommandLine", argumentParser, logging], path: "Examples/nmt-train"),
        .executableTarget(
            name: "nmt-train-distributed", dependencies: ["NMT", "NMTCommandLine", "NMTDistributed", argumentParser, logging],
            path: "Examples/nmt-train-distributed"),
        .executableTarget(
            name: "nmt-translate", dependencies: ["NMT", "NMTCommandLine", argumentParser], path: "Examples/nmt-translate"),
        .executableTarget(name: "nmt-bleu", dependencies: ["NMT", argumentParser], path: "Examples/nmt-bleu"),
        .executableTarget(name: "nmt-average", dependencies: ["NMT", argumentParser], path: "Examples/nmt-average"),
        .executableTarget(
            name: "nmt-export", dependencies: ["NMT", "NMTCommandLine", argumentParser], path: "Examples/nmt-export"),
        .executableTarget(
            name: "nmt-serve", dependencies: ["NMT", "NMTCommandLine", "NMTServer", argumentParser, logging],
            path: "Examples/nmt-serve"),
        .executableTarget(
            name: "nmt-evaluate", dependencies: ["NMT", "NMTCommandLine", argumentParser], path: "Examples/nmt-evaluate"),
        .executableTarget(
            name: "nmt-bench-tensor", dependencies: ["NMTTensor", "CNMTBLAS", "CNMTKernels", argumentParser],
            path: "Benchmarks/nmt-bench-tensor"),
        .executableTarget(
            name: "nmt-bench-model", dependencies: ["NMT", "NMTCommandLine", argumentParser], path: "Benchmarks/nmt-bench-model"),
        .executableTarget(name: "nmt-bench-data", dependencies: ["NMTData", argumentParser], path: "Benchmarks/nmt-bench-data"),
        .executableTarget(
            name: "nmt-bench-sentencepiece", dependencies: ["NMTData", argumentParser], path: "Benchmarks/nmt-bench-sentencepiece"),
        .executableTarget(
            name: "nmt-bench-distributed",
            dependencies: [
                "NMTDistributed", "NMTAccelerator", "NMTSchedule", "NMTTransformer", "NMTData", "NMTLayers", "NMTTensor",
                argumentParser,
            ],
            path: "Benchmarks/nmt-bench-distributed"),

        // Run by NMTDistributedTests under mpirun: data-parallel parity across processes.
        .executableTarget(
            name: "nmt-distributed-check",
            dependencies: ["CNMTMPI", "NMTDistributed", "NMTSchedule", "NMTAccelerator", "NMTTransformer", "NMTLayers", "NMTTensor"],
            path: "Tests/DistributedCheck"),
        .target(name: "NMTTestSupport", dependencies: ["NMTTensor", "NMTTransformer"], path: "Tests/NMTTestSupport"),
        .testTarget(name: "NMTTensorTests", dependencies: ["NMTTensor", "NMTTestSupport", "CNMTBLAS", "CNMTKernels"]),
        .testTarget(name: "NMTLayersTests", dependencies: ["NMTLayers", "NMTTensor", "NMTTestSupport", "CNMTKernels"]),
        .testTarget(
            name: "NMTTransformerTests", dependencies: ["NMTTransformer", "NMTLayers", "NMTTensor", "NMTTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "NMTDataTests", dependencies: ["NMTData", "NMTTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "NMTAcceleratorTests", dependencies: ["NMTAccelerator", "NMTLayers", "NMTTensor", "NMTTestSupport"]),
        .testTarget(
            name: "NMTScheduleTests",
            dependencies: [
                "NMTSchedule", "NMTAccelerator", "NMTData", "NMTLayers", "NMTTensor", "NMTTransformer", "NMTTestSupport",
                logging,
            ],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "NMTInteropTests",
            dependencies: [
                "NMTInterop", "NMTSchedule", "NMTAccelerator", "NMTData", "NMTTransformer", "NMTTensor", "NMTTestSupport", logging,
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "NMTDistributedTests", dependencies: ["NMTDistributed", "NMTAccelerator", "NMTTestSupport"]),
        .testTarget(
            name: "NMTServerTests",
            dependencies: ["NMTServer", "NMTSchedule", "NMTData", "NMTTransformer", "NMTTensor", "NMTTestSupport", logging,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
