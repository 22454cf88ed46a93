#!/usr/bin/env bash
# Runs each libFuzzer target (Fuzz/) for SECONDS seconds (default 120; 5 targets, so 10
# minutes in all), starting from the seed corpus in Fuzz/Corpus/TARGET. New inputs grow a
# working corpus in Fuzz/.build/corpus; a crash leaves its input in Fuzz/.build/crashes and
# makes the script exit non-zero. Prints the executions and findings per target.
#
#   Scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../Fuzz"
SECONDS_EACH=${1:-120}
swift build --sanitize=fuzzer --sanitize=address 2>&1 | grep -E "error|Build" || true
mkdir -p .build/crashes
status=0
for target in tfrecord example safetensors vocabulary tokenizer; do
    work=.build/corpus/$target
    mkdir -p "$work"
    log=.build/fuzz-$target.log
    if ! ".build/debug/fuzz-$target" "$work" "Corpus/$target" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -artifact_prefix=.build/crashes/"$target"- >"$log" 2>&1; then
        status=1
    fi
    runs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    crashes=$(ls .build/crashes | grep -c "^$target-" || true)
    echo "fuzz-$target: ${runs:-?} executions in $SECONDS_EACH s, $crashes crashing inputs"
done
exit $status
