#!/usr/bin/env bash
# The main job: installs missing system packages, builds in release mode and runs it.
# Until the Transformer trainer lands this is nmt-demo (a two-layer network fitted with
# the autodiff); extra arguments are passed to it.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
swift run -c release nmt-demo "$@"
