#!/usr/bin/env bash
# How much a second core can add to a training step on this machine (issue 26, goal 3).
#
#   Scripts/benchmarks/core-ceiling.sh [MODEL] [STEPS] [ROUNDS]
#
# MODEL (default main: the main job's model and 512-token batches; or tiny, small, base)
# is trained by `nmt-bench-model --only MODEL --steps STEPS` (default 300) in three ways,
# alternating, ROUNDS times (default 3):
#   alone     one process pinned to core 0 (`taskset -c 0`): the one-core rate;
#   pair      two such processes at once, pinned to cores 0 and 1, sharing nothing: the
#             most two cores give this work on this machine when no step is split (the
#             caches, memory bandwidth and clock the two cores share set it);
#   replicas  one process on both cores with `--replicas 2` (what nmt-train does).
# It prints each round's median step times and the ratios to the one-core rate:
# pair ceiling = alone / pair0 + alone / pair1 (the pair's steps per one-core step),
# replicas = alone / replicas; then each ratio's median over the rounds and its range
# (replica runs on a shared VM can land in a fast or a slow group; see Training.md).
# Run it on an idle machine
# (nothing else running) after `swift build -c release --product nmt-bench-model`.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-main}
steps=${2:-300}
rounds=${3:-3}
bench=.build/release/nmt-bench-model
[[ -x $bench ]] || { echo "build it first: swift build -c release --product nmt-bench-model" >&2; exit 1; }
[[ $(nproc --all) -ge 2 ]] || { echo "needs two cores" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

median() {  # the train_step median of a benchmark's output, in seconds
    python3 -c 'import json,sys
for line in open(sys.argv[1]):
    row = json.loads(line)
    if row.get("benchmark") == "train_step": print(row["step_seconds_median"])' "$1"
}

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); model $model, $steps steps"
printf 'round\talone s/step\tpair s/step (core 0, core 1)\treplicas s/step\tpair ceiling\treplicas x\n'
for round in $(seq "$rounds"); do
    taskset -c 0 "$bench" --only "$model" --steps "$steps" > "$out/alone"
    taskset -c 0 "$bench" --only "$model" --steps "$steps" > "$out/pair0" &
    first=$!
    taskset -c 1 "$bench" --only "$model" --steps "$steps" > "$out/pair1"
    wait "$first"
    "$bench" --only "$model" --steps "$steps" --replicas 2 > "$out/replicas"
    alone=$(median "$out/alone") p0=$(median "$out/pair0") p1=$(median "$out/pair1") replicas=$(median "$out/replicas")
    python3 -c 'import sys
r, alone, p0, p1, rep = sys.argv[1], *map(float, sys.argv[2:6])
print(f"{r}\t{alone:.4f}\t{p0:.4f}, {p1:.4f}\t{rep:.4f}\t{alone / p0 + alone / p1:.2f} x\t{alone / rep:.2f} x")
print(alone / p0 + alone / p1, alone / rep, file=open(sys.argv[6], "a"))' \
        "$round" "$alone" "$p0" "$p1" "$replicas" "$out/ratios"
done
# The goal is stated for the median round; the range shows how far rounds spread.
python3 -c 'import statistics, sys
rows = [tuple(map(float, line.split())) for line in open(sys.argv[1])]
for name, values in (("pair ceiling", [r[0] for r in rows]), ("replicas x one core", [r[1] for r in rows])):
    print(f"median of {len(values)} rounds, {name}: {statistics.median(values):.2f} x ({min(values):.2f}-{max(values):.2f})")' "$out/ratios"
