#!/usr/bin/env bash
# OpenNMT-py 3.5.1 on the main job's data, model and budget, scored with sacreBLEU beside
# swift-nmt's main job: the yardstick behind "ahead of OpenNMT-py at the same budget".
#
#   Scripts/benchmarks/opennmt-compare.sh     # WORK: a finished main job (default work/ding)
#                                  # SECONDS_BUDGET: training seconds (default 900, the main job's)
#                                  # VENV: OpenNMT-py's environment (default /tmp/onmt-venv; made if missing)
#                                  # OUT: where OpenNMT-py's files go (default $WORK/opennmt)
#
# Same data: the main job's train/dev/test split ($WORK/text). Same model: the main job's
# Examples/configs/ding-h64.json (64 hidden, 3+3 layers, 4 heads, filter 256, dropout 0.1,
# label smoothing 0.1, shared and tied embeddings), Adam with the reference's betas and the
# noam schedule at the main job's rate (1.0, warm-up 400), batches of 512 tokens. Vocabulary:
# a shared SentencePiece unigram model of 8,192 pieces (OpenNMT-py's usual set-up; swift-nmt
# uses its own 8k subword vocabulary). Budget: training is stopped after SECONDS_BUDGET
# seconds of wall time and the newest checkpoint (saved every 250 steps) translates the
# test set with beam 4. OpenNMT-py runs on the CPU with torch's default threads (all cores).
# Outside the library, like ../shared/bench: nothing here is a dependency of swift-nmt.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-work/ding}
SECONDS_BUDGET=${SECONDS_BUDGET:-900}
VENV=${VENV:-/tmp/onmt-venv}
OUT=${OUT:-$WORK/opennmt}
for f in train.en train.de test.en test.de; do
    [ -f "$WORK/text/$f" ] || { echo "missing $WORK/text/$f: run Scripts/experiments/main-job.sh first (or set WORK)" >&2; exit 1; }
done
if [ ! -x "$VENV/bin/onmt_train" ]; then
    # OpenNMT-py 3.5.1 needs torch < 2.3; PyPI's torch 2.2 wheels bring their CUDA
    # libraries (about 2.5 GB), which `import torch` loads even on a CPU-only machine.
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "OpenNMT-py==3.5.1" "numpy<2" sentencepiece sacrebleu
fi
py=$VENV/bin/python
mkdir -p "$OUT"

echo "== SentencePiece (unigram, 8,192 pieces, shared)"
cat "$WORK/text/train.en" "$WORK/text/train.de" >"$OUT/spm-train.txt"
"$py" - "$OUT" <<'PY'
import sys, sentencepiece as spm
out = sys.argv[1]
spm.SentencePieceTrainer.train(input=f"{out}/spm-train.txt", model_prefix=f"{out}/spm", vocab_size=8192,
                               model_type="unigram", character_coverage=1.0, minloglevel=2)
PY
for name in train.en train.de test.en; do
    "$py" -c "
import sys, sentencepiece as spm
m = spm.SentencePieceProcessor(model_file='$OUT/spm.model')
for line in open('$WORK/text/$name', encoding='utf-8'):
    print(' '.join(m.encode(line.rstrip('\n'), out_type=str)))
" >"$OUT/$name.sp"
done

cat >"$OUT/config.yaml" <<YAML
save_data: $OUT/run
src_vocab: $OUT/vocab.shared
share_vocab: true
overwrite: true
data:
    ding:
        path_src: $OUT/train.en.sp
        path_tgt: $OUT/train.de.sp
save_model: $OUT/model
save_checkpoint_steps: 250
keep_checkpoint: 3
train_steps: 1000000
valid_steps: 1000000
report_every: 500
seed: 1
world_size: 1
gpu_ranks: []
encoder_type: transformer
decoder_type: transformer
enc_layers: 3
dec_layers: 3
hidden_size: 64
word_vec_size: 64
transformer_ff: 256
heads: 4
position_encoding: true
share_embeddings: true
share_decoder_embeddings: true
dropout: [0.1]
attention_dropout: [0.1]
label_smoothing: 0.1
optim: adam
adam_beta1: 0.9
adam_beta2: 0.997
learning_rate: 1.0
decay_method: noam
warmup_steps: 400
param_init: 0
param_init_glorot: true
normalization: tokens
batch_type: tokens
batch_size: 512
# The corpus is small: a bucket of 262,144 examples (the default) would take 14 passes
# over it before the first step; data loading stays in the training process.
bucket_size: 16384
num_workers: 0
accum_count: [1]
YAML
"$VENV/bin/onmt_build_vocab" -config "$OUT/config.yaml" -n_sample -1 >"$OUT/build_vocab.log" 2>&1

echo "== training OpenNMT-py for $SECONDS_BUDGET s"
start=$(date +%s)
timeout "$SECONDS_BUDGET" "$VENV/bin/onmt_train" -config "$OUT/config.yaml" >"$OUT/train.log" 2>&1 || true
checkpoint=$(ls -t "$OUT"/model_step_*.pt | head -1)
steps=$(basename "$checkpoint" .pt | sed 's/model_step_//')
echo "trained $(( $(date +%s) - start )) s; newest checkpoint: step $steps"

echo "== translating the test set (beam 4)"
start=$(date +%s)
"$VENV/bin/onmt_translate" -model "$checkpoint" -src "$OUT/test.en.sp" -output "$OUT/test.hyp.sp" \
    -beam_size 4 -batch_size 32 -batch_type sents -max_length 150 >"$OUT/translate.log" 2>&1
echo "translated in $(( $(date +%s) - start )) s"
"$py" -c "
import sentencepiece as spm
m = spm.SentencePieceProcessor(model_file='$OUT/spm.model')
with open('$OUT/test.hyp.de', 'w', encoding='utf-8') as out:
    for line in open('$OUT/test.hyp.sp', encoding='utf-8'):
        out.write(m.decode(line.split()) + '\n')
"

"$py" - "$OUT/test.hyp.de" "$WORK/test.hyp.de" "$WORK/text/test.de" "$steps" "$SECONDS_BUDGET" <<'PY'
import os, sys, time, sacrebleu
onmt, ours, reference, steps, budget = sys.argv[1:6]
refs = open(reference, encoding="utf-8").read().split("\n")[:-1]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"\nCPU: {cpu}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; test set {len(refs)} lines; sacreBLEU intl")
print("\n| system | training | test BLEU uncased / cased |\n|---|---|---|")
for name, path, training in [("OpenNMT-py 3.5.1", onmt, f"{steps} steps in {budget} s"), ("swift-nmt main job", ours, "see its log")]:
    if not os.path.exists(path):
        print(f"| {name} | {training} | (no {path}) |")
        continue
    hyp = open(path, encoding="utf-8").read().split("\n")[:-1]
    lower = sacrebleu.corpus_bleu(hyp, [refs], tokenize="intl", lowercase=True).score
    cased = sacrebleu.corpus_bleu(hyp, [refs], tokenize="intl").score
    print(f"| {name} | {training} | {lower:.2f} / {cased:.2f} |")
PY
