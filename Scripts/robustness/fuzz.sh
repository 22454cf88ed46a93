#!/usr/bin/env bash
# Runs each libFuzzer target (Fuzz/) for SECONDS seconds (default 120; 5 targets, so 10
# minutes in all), starting from the seed corpus in Fuzz/Corpus/TARGET. New inputs grow a
# working corpus in Fuzz/.build/corpus; a crash leaves its input in Fuzz/.build/crashes and
# makes the script exit non-zero. Prints the executions and findings per target.
#
#   Scripts/robustness/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../../Fuzz"
SECONDS_EACH=${1:-120}
# SwiftPM passes the two sanitizers as two -sanitize= flags, and swift-frontend keeps only
# the last one: the code then gets AddressSanitizer but no coverage counters, and libFuzzer
# mutates blindly ("Is the code instrumented for coverage?"). The combined flag, passed
# after them, restores the counters; --sanitize keeps SwiftPM linking libFuzzer and ASan.
swift build --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address 2>&1 | grep -E "error|Build" || true
# A crash is reported by libFuzzer and ASan; Swift's backtracer would only add noise.
export SWIFT_BACKTRACE=enable=no
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
    coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    corpus=$(ls "$work" | wc -l)
    crashes=$(ls .build/crashes | grep -c "^$target-" || true)
    echo "fuzz-$target: ${runs:-?} executions in $SECONDS_EACH s, ${coverage:-?} coverage points, $corpus inputs in the working corpus, $crashes crashing inputs"
done
exit $status
