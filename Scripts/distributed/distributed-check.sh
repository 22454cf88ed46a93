#!/usr/bin/env bash
# Data-parallel training end to end on this machine (issue 13), with mpirun on loopback:
#   1. 2 processes train 6 steps; their log, checkpoints, final loss and BLEU (each process
#      translates half of the dev pairs) match 1 process training the same 6 steps (loss
#      within 1e-5 relative), and so do 2 processes × 2
#      static shards against 1 process × 4 shards, and 2 processes against 1 with
#      --accumulate 2;
#   2. a checkpoint of 2 processes resumes on 1 process, and on 2 again, also when rank 1
#      sees an empty model directory (rank 0 sends it the checkpoint);
#   3. kill -9 of rank 1 mid-run: mpirun and rank 0 exit non-zero within BOUND seconds,
#      naming rank 1; the same command then resumes from the last complete checkpoint;
#   4. processes started with different options (a different seed on rank 1) are refused
#      at start, with a message that names the option and the rank.
#
#   Scripts/distributed/distributed-check.sh [BIN]     (BIN: a folder with nmt-train, nmt-train-distributed and nmt-prepare;
#                                           default: a release build of them)
set -euo pipefail
cd "$(dirname "$0")/../.."
BOUND=20
if [ -n "${1:-}" ]; then bin=$1; else
    for product in nmt-train nmt-train-distributed nmt-prepare; do swift build -c release --product $product >/dev/null 2>&1 || { echo "building $product failed" >&2; exit 1; }; done
    bin=.build/release
fi
mpirun=(mpirun --allow-run-as-root --oversubscribe)
work=$(mktemp -d /tmp/nmt-distributed.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "distributed-check: FAILED: $*" >&2; exit 1; }

# The test fixture's Ding pairs and a small model (Scripts/experiments/small-run.sh).
Scripts/experiments/small-run.sh "$bin" "$work"
# train MODEL_DIR STEPS [more options]: the same command for every process count.
args() {
    local model=$1 steps=$2; shift 2
    echo --config "$work/model.json" --data-dir "$work/data" --model-dir "$model" --vocab "$work/data/small.vocab" \
        --train-steps "$steps" --steps-between-evals 3 --checkpoint-every 3 --batch-size 600 --max-length 40 \
        --warmup-steps 10 "$@"
}
final_loss() { sed -n 's/.*final loss \([-0-9.e]*\).*/\1/p' "$1" | tail -1; }
close() {  # close A B: relative difference within 1e-5
    python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) <= 1e-5 * max(1, abs(b)) else 1)" "$1" "$2"
}

echo "== 1. 2 processes against 1, 6 steps, scoring BLEU on the dev pairs"
bleu=(--bleu-source "$work/dev.en" --bleu-ref "$work/dev.de")
"$bin/nmt-train" $(args "$work/one" 6) "${bleu[@]}" > "$work/one.log" 2>&1 || fail "1 process: $(tail -3 "$work/one.log")"
"${mpirun[@]}" -np 2 "$bin/nmt-train-distributed" $(args "$work/two" 6) "${bleu[@]}" > "$work/two.log" 2>&1 \
    || fail "2 processes: $(tail -5 "$work/two.log")"
one=$(final_loss "$work/one.log"); two=$(final_loss "$work/two.log")
close "$two" "$one" || fail "final loss of 2 processes $two, of 1 process $one"
echo "final loss: 1 process $one, 2 processes $two"
[ "$(ls "$work/two" | grep -c '^checkpoint-0')" = 2 ] || fail "expected checkpoints 3 and 6: $(ls "$work/two")"
[ "$(ls "$work/two" | grep -c 'tfevents')" = 1 ] || fail "expected one event file (rank 0's): $(ls "$work/two")"
grep -q "2 processes agree" "$work/two.log" || fail "no agreement line"
[ "$(grep -c "iteration 2, step 6" "$work/two.log")" = 1 ] || fail "evaluation not logged once (rank 0 alone)"
# Each process translated half of the dev pairs; rank 0 scored them all.
scores() { grep -o "BLEU (uncased) .*" "$1"; }
[ "$(scores "$work/two.log" | wc -l)" = 2 ] || fail "expected 2 BLEU evaluations: $(scores "$work/two.log")"
[ "$(scores "$work/two.log")" = "$(scores "$work/one.log")" ] \
    || fail "BLEU of 2 processes $(scores "$work/two.log" | tr '\n' ' ') differs from 1 process's $(scores "$work/one.log" | tr '\n' ' ')"
echo "BLEU after steps 3 and 6, 1 and 2 processes alike: $(scores "$work/two.log" | tr '\n' ' ')"
[ -d "$work/two/checkpoint-best" ] || fail "no best checkpoint"

echo "== 1b. static batches: 2 processes × 2 shards against 1 process × 4 shards, 6 steps"
static=(--device static --batch-size 640 --max-length 40)   # 16 sentences: 4 per shard
"$bin/nmt-train" $(args "$work/static4" 6) "${static[@]}" --shards 4 > "$work/static4.log" 2>&1 \
    || fail "1 process × 4 shards: $(tail -3 "$work/static4.log")"
"${mpirun[@]}" -np 2 "$bin/nmt-train-distributed" $(args "$work/static2x2" 6) "${static[@]}" --shards 2 \
    > "$work/static2x2.log" 2>&1 || fail "2 processes × 2 shards: $(tail -5 "$work/static2x2.log")"
a=$(final_loss "$work/static4.log"); b=$(final_loss "$work/static2x2.log")
close "$b" "$a" || fail "final loss of 2 processes × 2 shards $b, of 1 process × 4 shards $a"
echo "final loss: 1 process × 4 shards $a, 2 processes × 2 shards $b"

echo "== 1c. gradient accumulation: 2 processes against 1, --accumulate 2"
"$bin/nmt-train" $(args "$work/acc1" 6) --accumulate 2 > "$work/acc1.log" 2>&1 || fail "1 process: $(tail -3 "$work/acc1.log")"
"${mpirun[@]}" -np 2 "$bin/nmt-train-distributed" $(args "$work/acc2" 6) --accumulate 2 > "$work/acc2.log" 2>&1 \
    || fail "2 processes: $(tail -5 "$work/acc2.log")"
a=$(final_loss "$work/acc1.log"); b=$(final_loss "$work/acc2.log")
close "$b" "$a" || fail "final loss with --accumulate 2: 2 processes $b, 1 process $a"
echo "final loss with --accumulate 2: 1 process $a, 2 processes $b"

echo "== 2. resuming 2 processes' checkpoint on 1 process, and on 2"
cp -r "$work/two" "$work/two-on-one"
"$bin/nmt-train" $(args "$work/two-on-one" 9) > "$work/resume1.log" 2>&1 || fail "resume on 1: $(tail -3 "$work/resume1.log")"
grep -q "resuming from checkpoint-00000006 at step 6" "$work/resume1.log" || fail "no resume on 1 process"
"${mpirun[@]}" -np 2 "$bin/nmt-train-distributed" $(args "$work/two" 9) > "$work/resume2.log" 2>&1 \
    || fail "resume on 2: $(tail -5 "$work/resume2.log")"
"$bin/nmt-train" $(args "$work/one" 9) > "$work/one9.log" 2>&1 || fail "1 process to 9"
a=$(final_loss "$work/resume1.log"); b=$(final_loss "$work/resume2.log"); c=$(final_loss "$work/one9.log")
close "$a" "$c" && close "$b" "$c" || fail "step 9 losses: resumed on 1 $a, on 2 $b, 1 process throughout $c"
echo "loss at step 9: resumed on 1 process $a, on 2 processes $b, 1 process throughout $c"

echo "== 2b. a model directory that only rank 0 sees (hosts without a shared filesystem)"
cp -r "$work/two" "$work/rank0-only"
mkdir -p "$work/rank1-empty"
"${mpirun[@]}" -np 1 "$bin/nmt-train-distributed" $(args "$work/rank0-only" 12) \
    : -np 1 "$bin/nmt-train-distributed" $(args "$work/rank1-empty" 12) > "$work/unshared.log" 2>&1 \
    || fail "resume with an unshared model directory: $(tail -5 "$work/unshared.log")"
grep -q "resuming from checkpoint-00000009 at step 9" "$work/unshared.log" || fail "rank 0 did not resume at step 9"
grep -q "2 processes agree" "$work/unshared.log" || fail "rank 1 did not get rank 0's checkpoint"
[ -z "$(ls -A "$work/rank1-empty")" ] || fail "rank 1 wrote into its model directory: $(ls "$work/rank1-empty")"
echo "rank 1 resumed from rank 0's checkpoint-00000009 with an empty model directory of its own"

echo "== 3. kill -9 of rank 1"
"${mpirun[@]}" -np 2 "$bin/nmt-train-distributed" $(args "$work/killed" 3000) > "$work/killed.log" 2>&1 &
job=$!
for _ in $(seq 600); do [ -d "$work/killed/checkpoint-00000006" ] && break; sleep 0.1; done
[ -d "$work/killed/checkpoint-00000006" ] || fail "no checkpoint to resume from: $(tail -5 "$work/killed.log")"
rank1=""
for pid in $(pgrep -f "nmt-train-distributed.*$work/killed"); do
    if tr '\0' '\n' < /proc/$pid/environ 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then rank1=$pid; fi
done
[ -n "$rank1" ] || fail "rank 1 not found"
killed_at=$(date +%s.%N)
kill -9 "$rank1"
status=0; wait $job || status=$?
seconds=$(python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$killed_at")
[ "$status" -ne 0 ] || fail "mpirun exited 0 after rank 1 was killed"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= $BOUND else 1)" "$seconds" || fail "the job took $seconds s to end"
grep -q "process rank 1 with PID [0-9]* .*exited on signal 9" "$work/killed.log" || fail "no message naming rank 1: $(tail -8 "$work/killed.log")"
pgrep -f "nmt-train-distributed.*$work/killed" >/dev/null && fail "a process of the killed job is still running"
echo "rank 1 killed: the job ended in $seconds s with status $status: $(grep -o 'process rank 1 with PID [0-9]* on node [^ ]* exited on signal 9 ([A-Za-z]*)' "$work/killed.log")"
last=$(ls -d "$work/killed"/checkpoint-0* | tail -1 | xargs basename)
"${mpirun[@]}" -np 2 "$bin/nmt-train-distributed" $(args "$work/killed" $(( 10#${last#checkpoint-} + 3 ))) \
    > "$work/restart.log" 2>&1 || fail "restart: $(tail -5 "$work/restart.log")"
grep -q "resuming from $last" "$work/restart.log" || fail "the restart did not resume from $last"
echo "the restart resumed from $last"

echo "== 4. processes that disagree"
status=0
"${mpirun[@]}" -np 1 "$bin/nmt-train-distributed" $(args "$work/mixed" 3) --seed 1 \
    : -np 1 "$bin/nmt-train-distributed" $(args "$work/mixed" 3) --seed 2 > "$work/mixed.log" 2>&1 || status=$?
[ "$status" -ne 0 ] || fail "processes with different seeds were not refused"
grep -q "disagree on the option seed: rank 1 has 2, rank 0 has 1" "$work/mixed.log" || fail "no clear refusal: $(tail -5 "$work/mixed.log")"
echo "refused: $(grep -o 'the processes disagree on the option seed[^.]*' "$work/mixed.log" | head -1)"
echo "distributed-check: all passed"
