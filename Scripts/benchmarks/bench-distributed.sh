#!/usr/bin/env bash
# Step time of data-parallel training on this machine: 2 processes × 1 thread (mpirun,
# loopback) against 1 process × 2 threads (nmt-train's default: one replica per thread),
# the main job's recipe (64 hidden, 512-token batches) on its prepared Ding data,
# alternating, ROUNDS times each. Prints a Markdown table with the CPU model and date; the
# gradient exchange's share comes from nmt-train's own timing of it.
#
#   Scripts/benchmarks/bench-distributed.sh DATA_DIR [STEPS] [ROUNDS]
#       DATA_DIR: a prepared main-job data folder (ding-* shards and ding.vocab),
#                 for example work/ding/data after Scripts/experiments/main-job.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:?usage: Scripts/benchmarks/bench-distributed.sh DATA_DIR [STEPS] [ROUNDS]}
STEPS=${2:-1500}
ROUNDS=${3:-2}
for p in nmt-train nmt-train-distributed; do swift build -c release --product $p >/dev/null 2>&1 || { echo "building nmt-train failed" >&2; exit 1; }; done
bin=.build/release
work=$(mktemp -d /tmp/nmt-bench-distributed.XXXXXX)
trap 'rm -rf "$work"' EXIT
args=(--config Examples/configs/ding-h64.json --data-dir "$DATA" --vocab "$DATA/ding.vocab" --train-steps "$STEPS"
      --steps-between-evals "$STEPS" --checkpoint-every "$STEPS" --batch-size 512 --max-length 64
      --learning-rate 1.0 --warmup-steps 400)
rate() { sed -n 's/.* \([0-9.]*\) steps\/s, \([0-9]*\) target tokens\/s.*/\1 \2/p' "$1"; }
exchange() { sed -n 's/.*gradient exchange: \([0-9.]*\) ms per step, \([0-9.]*\) %.*/\1 ms (\2 %)/p' "$1"; }

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC'); $STEPS steps per run"
echo
echo "| run | setting | steps/s | target tokens/s | gradient exchange per step |"
echo "|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
    "$bin/nmt-train" "${args[@]}" --model-dir "$work/one-$round" --threads 2 > "$work/one-$round.log" 2>&1
    read -r steps tokens < <(rate "$work/one-$round.log")
    echo "| $round | 1 process × 2 threads (2 replicas) | $steps | $tokens | – |"
    mpirun --allow-run-as-root -np 2 "$bin/nmt-train-distributed" "${args[@]}" --model-dir "$work/two-$round" \
        > "$work/two-$round.log" 2>&1
    read -r steps tokens < <(rate "$work/two-$round.log")
    echo "| $round | 2 processes × 1 thread | $steps | $tokens | $(exchange "$work/two-$round.log") |"
done
