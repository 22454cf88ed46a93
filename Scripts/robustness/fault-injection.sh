#!/usr/bin/env bash
# Fault injection for checkpoints (issue 15): kills training with SIGKILL at random
# moments (many of them during checkpoint writes, since a checkpoint is written after
# every step), restarts the same command until the run completes, and checks that
#   - every restart resumed from the newest complete checkpoint,
#   - no temporary checkpoint folder is left,
#   - the final weights and optimizer state equal an uninterrupted run's, byte for byte.
# Then trains into a small tmpfs until the disk is full and checks that the failure is a
# clean error (no signal), that no temporary is left and that the newest checkpoint loads,
# and that averaging onto that full disk fails cleanly without leaving an output folder.
#
#   Scripts/robustness/fault-injection.sh [TRIALS]      (default 20; needs root for the tmpfs part)
set -euo pipefail
cd "$(dirname "$0")/../.."
TRIALS=${1:-20}
STEPS=12
swift build -c release --product nmt-train >/dev/null
swift build -c release --product nmt-prepare >/dev/null
swift build -c release --product nmt-average >/dev/null
bin=.build/release
work=$(mktemp -d /tmp/nmt-faults.XXXXXX)
trap 'umount "$work/full" 2>/dev/null || true; rm -rf "$work"' EXIT

# A small corpus (the test fixture's 360 Ding pairs) and a 64-hidden model.
Scripts/experiments/small-run.sh "$bin" "$work" faults 64
train() {  # train MODEL_DIR: the same command every time (exec: in the background, $! is nmt-train)
    exec "$bin/nmt-train" --config "$work/model.json" --data-dir "$work/data" --model-dir "$1" \
        --vocab "$work/data/faults.vocab" --train-steps $STEPS --steps-between-evals $STEPS --batch-size 400 \
        --max-length 40 --warmup-steps 10 --checkpoint-every 1
}
final() { echo "$1/checkpoint-$(printf %08d $STEPS)"; }

started=$(date +%s.%N)
(train "$work/reference") 2>/dev/null
duration=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "uninterrupted run: $STEPS steps in $duration s"
kills=0
for trial in $(seq 1 "$TRIALS"); do
    dir="$work/trial-$trial"
    for attempt in $(seq 1 50); do
        (train "$dir") 2>"$work/log" &
        pid=$!
        # Each start runs for a random part of an uninterrupted run's time before the kill.
        sleep "$(awk -v s="$RANDOM" -v d="$duration" 'BEGIN { srand(s); printf "%.2f", 0.05 + rand() * d * 0.9 }')"
        if kill -9 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
            kills=$((kills + 1))
            continue
        fi
        wait "$pid" || { echo "trial $trial: training failed after a restart:"; cat "$work/log"; exit 1; }
        break
    done
    [ -d "$(final "$dir")" ] || { echo "trial $trial: never completed"; exit 1; }
    leftovers=$(find "$dir" -maxdepth 1 -name '.checkpoint-*' | wc -l)
    [ "$leftovers" -eq 0 ] || { echo "trial $trial: $leftovers temporary folders left"; exit 1; }
    for file in model.safetensors optimizer.safetensors; do
        cmp -s "$(final "$work/reference")/$file" "$(final "$dir")/$file" \
            || { echo "trial $trial: $file differs from the uninterrupted run"; exit 1; }
    done
    echo "trial $trial: completed after $attempt start(s); identical to the uninterrupted run"
done
echo "kill-and-resume: $TRIALS/$TRIALS trials identical, $kills kills in all"

# A full disk: room for about two checkpoints of this model.
mkdir -p "$work/full"
if mount -t tmpfs -o size=4m tmpfs "$work/full" 2>/dev/null; then
    set +e
    (train "$work/full/model") 2>"$work/full-log"
    status=$?
    set -e
    [ $status -ne 0 ] && [ $status -lt 128 ] || { echo "full disk: exit status $status (expected an error, no signal)"; exit 1; }
    grep -q "Error:" "$work/full-log" || { echo "full disk: no error message"; cat "$work/full-log"; exit 1; }
    leftovers=$(find "$work/full/model" -maxdepth 1 -name '.checkpoint-*' | wc -l)
    [ "$leftovers" -eq 0 ] || { echo "full disk: $leftovers temporary folders left"; exit 1; }
    newest=$(ls -d "$work/full/model"/checkpoint-* | sort | tail -1)
    echo "full disk: exit $status with \"$(grep -m1 Error: "$work/full-log" | cut -c1-150)\"; newest complete checkpoint $(basename "$newest"), no temporary left"
    # Averaging onto the full disk: an error, and no empty output folder left behind.
    set +e
    "$bin/nmt-average" --inputs "$newest" --output "$work/full/average" 2>"$work/average-log"
    status=$?
    set -e
    [ $status -ne 0 ] && [ $status -lt 128 ] || { echo "average on a full disk: exit status $status"; exit 1; }
    [ ! -e "$work/full/average" ] || { echo "average on a full disk: left $(ls -A "$work/full/average" | wc -l) entries in its output"; exit 1; }
    echo "average on a full disk: exit $status with \"$(grep -m1 Error: "$work/average-log" | cut -c1-150)\", no output folder left"
    umount "$work/full"
else
    echo "full disk: skipped (mounting a tmpfs needs root)"
fi
