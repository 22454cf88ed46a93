#!/usr/bin/env bash
# The test suite, as CI runs it: installs missing system packages, then runs the decoding,
# training and data-parallel tests on swift-nmt's 256-bit kernels (NMT_VECTOR_BITS=256,
# the path AVX2-only CPUs take; see Documentation/Determinism.md), then every test on the
# widest kernels this CPU has. With arguments (e.g. --filter X), runs only `swift test` with them.
# XCTest only (--disable-swift-testing), so the closing summary is XCTest's "Executed N tests".
set -euo pipefail
cd "$(dirname "$0")/../.."
Scripts/ci/install-deps.sh
if [ $# -eq 0 ]; then
    swift build --build-tests
    echo "test.sh: decoding, training and data-parallel tests with NMT_VECTOR_BITS=256"
    NMT_VECTOR_BITS=256 swift test --disable-swift-testing --skip-build \
        --filter 'Decoding|Trainer|DataParallel|Distributed|StaticSharded|GradientAccumulation|VectorKernel|Optimizer'
    echo "test.sh: every test"
fi
swift test --disable-swift-testing "$@"
