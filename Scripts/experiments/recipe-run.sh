#!/usr/bin/env bash
# One run of the recipe search (issue 14): trains from scratch on the Ding corpus with one
# setting changed, translates the development split and appends a line to a table.
#
#   Scripts/experiments/recipe-run.sh NAME [nmt-train options...]
#
# NAME names the run (work/recipe/NAME). The options are added after the main job's
# settings (Examples/configs/ding-h64.json, 512-token batches, learning rate 1.0, warm-up
# 400), so they override them (`--batch-size 1024`, `--learning-rate 2`, `--config FILE`...).
# Environment: TRAIN_SECONDS (default 300), VOCAB_SIZE (default 8192: the prepared data
# of each vocabulary size is shared by the runs), RESULTS (default work/recipe/results.tsv),
# DECODE (extra nmt-translate options, e.g. "--no-repeat-ngram 3"), DATA (the prepared data;
# default work/recipe/data-VOCAB_SIZE, to share it between runs on the same text), PREPARE
# (extra nmt-prepare corpus options, e.g. "--tokenizer sentencepiece --sample-copies 8
# --sample-alpha 0.5"; give such runs their own DATA).
# Needs the release programs (swift build -c release) and the Ding text of the main job
# (work/ding/text, or TEXT=...). Only the development split is scored: the test split is
# for the final run alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: Scripts/experiments/recipe-run.sh NAME [nmt-train options...]}
shift
TRAIN_SECONDS=${TRAIN_SECONDS:-300}
VOCAB_SIZE=${VOCAB_SIZE:-8192}
TEXT=${TEXT:-work/ding/text}
RESULTS=${RESULTS:-work/recipe/results.tsv}
DECODE=${DECODE:-}
bin=.build/release
data=${DATA:-work/recipe/data-$VOCAB_SIZE}
run=work/recipe/$name

[[ -f $TEXT/train.en && -f $TEXT/dev.en ]] || { echo "no Ding text in $TEXT: run Scripts/experiments/main-job.sh first" >&2; exit 1; }
[[ -e $run ]] && { echo "$run exists: choose another name or remove it" >&2; exit 1; }
PREPARE=${PREPARE:-}
if [[ ! -f $data/ding.vocab && ! -f $data/ding.model ]]; then
    # shellcheck disable=SC2086
    "$bin/nmt-prepare" corpus --train-source "$TEXT/train.en" --train-target "$TEXT/train.de" \
        --dev-source "$TEXT/dev.en" --dev-target "$TEXT/dev.de" \
        --output "$data" --name ding --shards 4 --target-size "$VOCAB_SIZE" --threshold $((VOCAB_SIZE / 100)) $PREPARE
fi
vocab=$data/ding.model  # SentencePiece also writes a ding.vocab of its own
[[ -f $vocab ]] || vocab=$data/ding.vocab
mkdir -p "$run"
"$bin/nmt-train" --config Examples/configs/ding-h64.json --data-dir "$data" --model-dir "$run/model" \
    --vocab "$vocab" --train-steps 1000000 --steps-between-evals 1000000 \
    --max-seconds "$TRAIN_SECONDS" --batch-size 512 --max-length 64 --learning-rate 1.0 --warmup-steps 400 \
    "$@" 2>&1 | tee "$run/train.log"
# shellcheck disable=SC2086
"$bin/nmt-translate" --model-dir "$run/model" --vocab "$vocab" --file "$TEXT/dev.en" \
    --output "$run/dev.hyp.de" $DECODE
bleu=$("$bin/nmt-bleu" --translation "$run/dev.hyp.de" --reference "$TEXT/dev.de" | head -1 | sed 's/.*= //')
steps=$(sed -n 's/.*time budget of [0-9]* s reached at step \([0-9]*\).*/\1/p' "$run/train.log" | tail -1)
loss=$(sed -n 's/.*iteration [0-9]*, step [0-9]*:.* loss = \([0-9.]*\).*/\1/p' "$run/train.log" | tail -1)
[[ -f $RESULTS ]] || printf 'run\tvocabulary\tseconds\tsteps\tdev loss\tdev BLEU\toptions\n' > "$RESULTS"
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$VOCAB_SIZE" "$TRAIN_SECONDS" "${steps:-?}" "${loss:-?}" "$bleu" "$* $DECODE $PREPARE" \
    | tee -a "$RESULTS"
