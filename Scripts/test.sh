#!/usr/bin/env bash
# The test suite, as CI runs it: installs missing system packages, then runs every test.
# XCTest only (--disable-swift-testing), so the closing summary is XCTest's "Executed N tests".
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
swift test --disable-swift-testing "$@"
