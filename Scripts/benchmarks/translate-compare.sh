#!/usr/bin/env bash
# Translation speed of nmt-translate side by side with the independent PyTorch port of the
# reference beam search (../shared/bench/beam_torch.py: translate.py's batching, beam 4,
# alpha 0.6, padded width + 100), alternating in one run on the same model, sentences and
# threads, and whether the two give the same translations.
#
#   Scripts/benchmarks/translate-compare.sh      # MODEL (default work/ding/model), VOCAB (work/ding/data/ding.vocab),
#                                     # SOURCE (work/ding/text/test.en), ROUNDS (3), THREADS (all cores)
#                                     # PY: a Python with torch (default /tmp/venv/bin/python)
#                                     # BENCH: the yardstick folder (default ../shared/bench)
# Without PyTorch, swift-nmt is measured alone. Run the main job first for the default model.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/tmp/venv/bin/python}
BENCH=${BENCH:-../shared/bench}
MODEL=${MODEL:-work/ding/model}
VOCAB=${VOCAB:-work/ding/data/ding.vocab}
SOURCE=${SOURCE:-work/ding/text/test.en}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-$(nproc)}
for f in "$MODEL" "$VOCAB" "$SOURCE"; do
    [ -e "$f" ] || { echo "missing $f (run Scripts/experiments/main-job.sh, or set MODEL, VOCAB and SOURCE)" >&2; exit 1; }
done
swift build -c release --product nmt-translate >/dev/null
swift build -c release --product nmt-prepare >/dev/null
bin=.build/release
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The newest checkpoint, as nmt-translate picks it.
checkpoint=$(ls -d "$MODEL"/checkpoint-* | sort | tail -1)
"$bin/nmt-prepare" encode --vocab "$VOCAB" --eos "$SOURCE" >"$out/source.ids"
with_torch=0
if [ -f "$BENCH/beam_torch.py" ] && "$PY" -c "import torch" 2>/dev/null; then with_torch=1; fi
[ $with_torch = 1 ] || echo "PyTorch or $BENCH/beam_torch.py not found (set PY and BENCH): measuring swift-nmt alone" >&2

for round in $(seq 1 "$ROUNDS"); do
    if [ $with_torch = 1 ]; then
        "$PY" "$BENCH/beam_torch.py" beam "$checkpoint" "$SOURCE" "$out/source.ids" "$out/torch.ids" "$THREADS" \
            | python3 -c "import json,sys; d=json.load(sys.stdin); print(json.dumps({'who':'torch','round':$round,'seconds':d['seconds']}))" \
            | tee -a "$out/runs.jsonl"
    fi
    "$bin/nmt-translate" --model-dir "$MODEL" --vocab "$VOCAB" --file "$SOURCE" --output "$out/swift.txt" --benchmark 2>&1 >/dev/null \
        | grep '"benchmark"' \
        | python3 -c "import json,sys; d=json.load(sys.stdin); print(json.dumps({'who':'swift','round':$round,'seconds':d['seconds']}))" \
        | tee -a "$out/runs.jsonl"
done

same="not compared (no PyTorch)"
if [ $with_torch = 1 ]; then
    "$bin/nmt-prepare" decode --vocab "$VOCAB" "$out/torch.ids" >"$out/torch.txt"
    differing=$(paste -d '\t' "$out/swift.txt" "$out/torch.txt" | awk -F '\t' '$1 != $2' | wc -l)
    same="$differing of $(wc -l <"$SOURCE") lines differ"
fi
python3 - "$out/runs.jsonl" "$(wc -l <"$SOURCE")" "$THREADS" "$same" <<'PY'
import json, statistics, sys, time
runs = [json.loads(line) for line in open(sys.argv[1])]
sentences, threads, same = int(sys.argv[2]), sys.argv[3], sys.argv[4]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"\nCPU: {cpu}, date: {time.strftime('%Y-%m-%d')}, {threads} threads, {sentences} sentences, beam 4")
print("\n| system | seconds per round | median | sentences/s |\n|---|---|---|---|")
medians = {}
for who, name in (("torch", "PyTorch port of the reference search"), ("swift", "nmt-translate")):
    times = [r["seconds"] for r in runs if r["who"] == who]
    if not times: continue
    medians[who] = statistics.median(times)
    print(f"| {name} | {', '.join(f'{t:.1f}' for t in times)} | {medians[who]:.1f} | {sentences / medians[who]:.1f} |")
if len(medians) == 2:
    print(f"\nswift-nmt / PyTorch: {medians['torch'] / medians['swift']:.2f} x; translations: {same}")
PY
