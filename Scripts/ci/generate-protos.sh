#!/usr/bin/env bash
# Regenerates Sources/NMTData/Generated/*.pb.swift from Protos/*.proto. Needs protoc (apt-get install protobuf-compiler) and
# protoc-gen-swift of the same swift-protobuf version as Package.swift (1.39.x), built
# once from a checkout: swift build -c release --product protoc-gen-swift
# Usage: Scripts/ci/generate-protos.sh PATH/TO/protoc-gen-swift
set -euo pipefail
cd "$(dirname "$0")/../.."
plugin=${1:?usage: Scripts/ci/generate-protos.sh PATH/TO/protoc-gen-swift}
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public \
    --swift_out=Sources/NMTData/Generated -IProtos Protos/tensorflow_example.proto Protos/tensorflow_event.proto
echo "wrote Sources/NMTData/Generated/tensorflow_example.pb.swift and tensorflow_event.pb.swift"
