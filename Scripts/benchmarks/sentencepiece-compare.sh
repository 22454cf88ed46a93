#!/usr/bin/env bash
# SentencePiece encoding throughput: NMTData.SentencePiece (nmt-bench-sentencepiece, a
# release build) beside Debian's spm_encode on the same file, alternating, 3 rounds each;
# both are the same library, so the difference is swift-nmt's overhead. Both are timed as
# whole processes (load the model, read the file, encode, write the ids), and both must
# write the same ids. Prints a table with the CPU model and date.
#
#   Scripts/benchmarks/sentencepiece-compare.sh [COPIES]   (the Ding test text × COPIES, default 200)
set -euo pipefail
cd "$(dirname "$0")/../.."
copies=${1:-200}
swift build -c release --product nmt-bench-sentencepiece >/dev/null
command -v spm_encode >/dev/null || { echo "spm_encode missing: Scripts/ci/install-deps.sh installs sentencepiece" >&2; exit 1; }
work=$(mktemp -d /tmp/nmt-spm.XXXXXX)
trap 'rm -rf "$work"' EXIT
model=Tests/NMTDataTests/Fixtures/sentencepiece/unigram.model
for _ in $(seq "$copies"); do cat Tests/NMTDataTests/Fixtures/test.en Tests/NMTDataTests/Fixtures/test.de; done > "$work/text"
bytes=$(wc -c < "$work/text"); lines=$(wc -l < "$work/text")
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%Y-%m-%d); $lines lines, $bytes bytes"
printf '%-28s %10s %10s\n' "round" "seconds" "MB/s"
for round in 1 2 3; do
    start=$(date +%s.%N)
    .build/release/nmt-bench-sentencepiece --model $model --file "$work/text" --ids-out "$work/swift.ids" >"$work/swift.json"
    seconds=$(python3 -c "print($(date +%s.%N) - $start)")
    encode=$(python3 -c "import json; print(json.load(open('$work/swift.json'))['seconds'])")
    printf '%-28s %10.3f %10.1f   (encoding alone %.3f s)\n' "swift-nmt $round" "$seconds" "$(python3 -c "print($bytes / $seconds / 1e6)")" "$encode"
    start=$(date +%s.%N)
    spm_encode --model=$model --output_format=id < "$work/text" > "$work/spm.ids"
    seconds=$(python3 -c "print($(date +%s.%N) - $start)")
    printf '%-28s %10.3f %10.1f\n' "spm_encode $round" "$seconds" "$(python3 -c "print($bytes / $seconds / 1e6)")"
done
cmp -s "$work/swift.ids" "$work/spm.ids" && echo "ids: identical ($lines lines)" || { echo "ids differ" >&2; exit 1; }
