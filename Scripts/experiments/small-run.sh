#!/usr/bin/env bash
# The small training setup of the data-parallel and fault-injection scripts
# (distributed-check.sh, two-hosts.sh, fault-injection.sh): the test fixture's 360 Ding
# pairs (300 train, 60 dev) prepared into WORK/data (shards and WORK/data/NAME.vocab) and
# a 2+2-layer model of HIDDEN units (filter 2 × HIDDEN) in WORK/model.json.
#
#   Scripts/experiments/small-run.sh BIN WORK [NAME] [HIDDEN]
#       (BIN: a folder with nmt-prepare; NAME default small, HIDDEN default 32)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:?usage: Scripts/experiments/small-run.sh BIN WORK}
work=${2:?usage: Scripts/experiments/small-run.sh BIN WORK}
name=${3:-small}
hidden=${4:-32}
fixtures=Tests/NMTScheduleTests/Fixtures
head -300 $fixtures/sample.en > "$work/train.en"; head -300 $fixtures/sample.de > "$work/train.de"
tail -60 $fixtures/sample.en > "$work/dev.en"; tail -60 $fixtures/sample.de > "$work/dev.de"
"$bin/nmt-prepare" corpus --train-source "$work/train.en" --train-target "$work/train.de" --dev-source "$work/dev.en" \
    --dev-target "$work/dev.de" --output "$work/data" --name "$name" --shards 2 --target-size 500 --threshold 20 2>/dev/null
cat > "$work/model.json" <<JSON
{"vocabularySize": 0, "hiddenSize": $hidden, "layerCount": 2, "headCount": 4, "filterSize": $((2 * hidden)),
 "postprocessDropout": 0.1, "attentionDropout": 0.1, "reluDropout": 0.1, "labelSmoothing": 0.1,
 "extraDecodeLength": 10, "beamSize": 4, "alpha": 0.6}
JSON
