#!/usr/bin/env bash
# The main job, from a fresh Debian machine with Swift:
#   1. installs what is missing (OpenBLAS, LAPACKE, the Ding dictionary trans-de-en),
#   2. extracts the Ding English-German sentence pairs and prepares a vocabulary and
#      TFRecord shards,
#   3. trains a small Transformer (256 hidden, 3+3 layers) for TRAIN_SECONDS (default 540),
#   4. translates the held-out test set, scores BLEU (cased and uncased, intl tokenization)
#      and translates a few sentences.
# Everything goes to WORK (default work/ding). Running it again resumes training from the
# last checkpoint for another TRAIN_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-work/ding}
TRAIN_SECONDS=${TRAIN_SECONDS:-540}

Scripts/install-deps.sh --corpus
# The four programs the job runs: a plain `swift build` would also build nmt-serve and
# Hummingbird, minutes of the job's budget for a program it does not use.
for product in nmt-prepare nmt-train nmt-translate nmt-bleu; do swift build -c release --product "$product"; done
bin=.build/release

echo "== preparing the Ding corpus in $WORK"
"$bin/nmt-prepare" ding --output "$WORK/text"
"$bin/nmt-prepare" corpus --train-source "$WORK/text/train.en" --train-target "$WORK/text/train.de" \
    --dev-source "$WORK/text/test.en" --dev-target "$WORK/text/test.de" \
    --output "$WORK/data" --name ding --shards 4 --target-size 8192 --threshold 82

echo "== training for $TRAIN_SECONDS s"
"$bin/nmt-train" --config Examples/configs/ding-small.json --data-dir "$WORK/data" --model-dir "$WORK/model" \
    --vocab "$WORK/data/ding.vocab" --train-steps 1000000 --steps-between-evals 1000000 \
    --max-seconds "$TRAIN_SECONDS" --batch-size 2048 --max-length 64 --learning-rate 1.0 --warmup-steps 400

echo "== translating the held-out test set"
start=$(date +%s)
"$bin/nmt-translate" --model-dir "$WORK/model" --vocab "$WORK/data/ding.vocab" \
    --file "$WORK/text/test.en" --output "$WORK/test.hyp.de"
echo "translated $(wc -l < "$WORK/text/test.en") sentences in $(( $(date +%s) - start )) s"
"$bin/nmt-bleu" --translation "$WORK/test.hyp.de" --reference "$WORK/text/test.de"

echo "== a few translations"
for sentence in "I have no idea." "The weather is nice today." "Where is the station?"; do
    printf '%s\n    -> %s\n' "$sentence" "$("$bin/nmt-translate" --model-dir "$WORK/model" \
        --vocab "$WORK/data/ding.vocab" --text "$sentence")"
done
