#!/usr/bin/env bash
# The main job, from a fresh Debian machine with Swift:
#   1. installs what is missing (OpenBLAS, LAPACKE, the Ding dictionary trans-de-en),
#   2. extracts the Ding English-German sentence pairs (train, a development split of
#      about 1,000 pairs carved out of train, and the held-out test set) and prepares a
#      vocabulary and TFRecord shards,
#   3. trains a compact Transformer (64 hidden, 3+3 layers: the winner of the recipe search
#      in Documentation/Training.md) for TRAIN_SECONDS (default 900), scoring BLEU on the
#      development split every EVAL_STEPS steps (default 2000) and keeping the best
#      checkpoint in MODEL/checkpoint-best,
#   4. translates the development and test sets with that checkpoint, scores BLEU (cased
#      and uncased, intl tokenization) and translates a few sentences.
# Everything goes to WORK (default work/ding). Running it again resumes training from the
# last checkpoint for another TRAIN_SECONDS. Each run's training log is WORK/train-TIME.log;
# `python3 Scripts/experiments/learning-curve.py WORK/train-*.log` tabulates dev loss and BLEU by minute.
# VOCAB_SIZE (default 8192), CONFIG (default Examples/configs/ding-h64.json), LEARNING_RATE
# (1.0), WARMUP_STEPS (400), BATCH_TOKENS (512) and PREPARE (extra `nmt-prepare corpus`
# options, e.g. "--tokenizer sentencepiece --sample-copies 8 --sample-alpha 0.5") select
# the recipe; changing them needs a new WORK.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-work/ding}
TRAIN_SECONDS=${TRAIN_SECONDS:-900}
EVAL_STEPS=${EVAL_STEPS:-2000}
VOCAB_SIZE=${VOCAB_SIZE:-8192}
CONFIG=${CONFIG:-Examples/configs/ding-h64.json}
LEARNING_RATE=${LEARNING_RATE:-1.0}
WARMUP_STEPS=${WARMUP_STEPS:-400}
BATCH_TOKENS=${BATCH_TOKENS:-512}
PREPARE=${PREPARE:-}
job_start=$(date +%s)

Scripts/ci/install-deps.sh --corpus
# The four programs the job runs: a plain `swift build` would also build nmt-serve and
# Hummingbird, minutes of the job's budget for a program it does not use.
for product in nmt-prepare nmt-train nmt-translate nmt-bleu; do swift build -c release --product "$product"; done
bin=.build/release

echo "== preparing the Ding corpus in $WORK"
"$bin/nmt-prepare" ding --output "$WORK/text" --dev-every 19
# shellcheck disable=SC2086  # PREPARE is a list of options
"$bin/nmt-prepare" corpus --train-source "$WORK/text/train.en" --train-target "$WORK/text/train.de" \
    --dev-source "$WORK/text/dev.en" --dev-target "$WORK/text/dev.de" \
    --output "$WORK/data" --name ding --shards 4 --target-size "$VOCAB_SIZE" --threshold $((VOCAB_SIZE / 100)) $PREPARE
# The reference's vocabulary is ding.vocab; a SentencePiece model is ding.model (beside a
# ding.vocab of SentencePiece's own).
vocab=$WORK/data/ding.model
[[ -f $vocab ]] || vocab=$WORK/data/ding.vocab

echo "== training for $TRAIN_SECONDS s"
"$bin/nmt-train" --config "$CONFIG" --data-dir "$WORK/data" --model-dir "$WORK/model" \
    --vocab "$vocab" --train-steps 1000000 --steps-between-evals "$EVAL_STEPS" \
    --bleu-source "$WORK/text/dev.en" --bleu-ref "$WORK/text/dev.de" \
    --max-seconds "$TRAIN_SECONDS" --batch-size "$BATCH_TOKENS" --max-length 64 \
    --learning-rate "$LEARNING_RATE" --warmup-steps "$WARMUP_STEPS" 2>&1 | tee "$WORK/train-$(date -u +%Y%m%dT%H%M%S).log"
# The checkpoint with the best dev BLEU (chosen on dev only; test is scored once, below).
model=$WORK/model/checkpoint-best

for split in dev test; do
    echo "== translating the $split set"
    start=$(date +%s)
    "$bin/nmt-translate" --model-dir "$model" --vocab "$vocab" \
        --file "$WORK/text/$split.en" --output "$WORK/$split.hyp.de"
    echo "translated $(wc -l < "$WORK/text/$split.en") sentences in $(( $(date +%s) - start )) s"
    "$bin/nmt-bleu" --translation "$WORK/$split.hyp.de" --reference "$WORK/text/$split.de"
done

echo "== a few translations"
for sentence in "I have no idea." "The weather is nice today." "Where is the station?"; do
    printf '%s\n    -> %s\n' "$sentence" "$("$bin/nmt-translate" --model-dir "$model" \
        --vocab "$vocab" --text "$sentence")"
done
echo "== main job done in $(( $(date +%s) - job_start )) s (build included)"
