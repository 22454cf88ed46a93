// swift-tools-version:6.0
// libFuzzer targets for swift-nmt's parsers of untrusted input, kept in their own package
// so that ordinary builds of swift-nmt never compile them. Build and run: `make fuzz` in
// the repository root (Scripts/robustness/fuzz.sh).
import PackageDescription

let nmtData: Target.Dependency = .product(name: "NMTData", package: "swift-nmt")
let nmtTensor: Target.Dependency = .product(name: "NMTTensor", package: "swift-nmt")

let package = Package(
    name: "swift-nmt-fuzz",
    dependencies: [.package(name: "swift-nmt", path: "..")],
    targets: [
        .executableTarget(name: "fuzz-tfrecord", dependencies: [nmtData]),
        .executableTarget(name: "fuzz-example", dependencies: [nmtData]),
        .executableTarget(name: "fuzz-safetensors", dependencies: [nmtTensor]),
        .executableTarget(name: "fuzz-vocabulary", dependencies: [nmtData]),
        .executableTarget(name: "fuzz-tokenizer", dependencies: [nmtData]),
    ],
    swiftLanguageModes: [.v6]
)
