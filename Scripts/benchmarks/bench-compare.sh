#!/usr/bin/env bash
# Training-step throughput of swift-nmt side by side with PyTorch eager on this machine:
# alternating runs of ../shared/bench/side_by_side.py (an independent PyTorch model of
# the same Transformer) and nmt-bench-model, plus cblas_sgemm's rate in the same session,
# printed as the Markdown table of Documentation/Performance.md (Scripts/benchmarks/compare-table.py).
#
#   Scripts/benchmarks/bench-compare.sh          # PY: a Python with torch (default /tmp/venv/bin/python)
#                                     # BENCH: the yardstick folder (default ../shared/bench)
#                                     # ROUNDS, CONFIGS: passed to the runner
#                                     # REPLICAS: nmt-bench-model's --replicas (default: one
#                                     # per core, as nmt-train trains)
# Without PyTorch or the yardstick folder, swift-nmt is measured alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/tmp/venv/bin/python}
BENCH=${BENCH:-../shared/bench}
REPLICAS=${REPLICAS:-$(nproc)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
swift build -c release --product nmt-bench-model >/dev/null
swift build -c release --product nmt-bench-tensor >/dev/null
# The runner calls the benchmark with its own options only; this adds the replicas.
printf '#!/bin/sh\nexec "%s" "$@" --replicas %s\n' "$PWD/.build/release/nmt-bench-model" "$REPLICAS" >"$out/nmt-bench-model"
chmod +x "$out/nmt-bench-model"
if [ -f "$BENCH/side_by_side.py" ] && "$PY" -c "import torch" 2>/dev/null; then
    PY=$PY python3 "$BENCH/side_by_side.py" "$out/nmt-bench-model" | tee "$out/runs.jsonl"
else
    echo "PyTorch or $BENCH/side_by_side.py not found (set PY and BENCH): measuring swift-nmt alone" >&2
    python3 -c "import json,time; print(json.dumps({'cpu': next((l.split(':',1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?'), 'date': time.strftime('%Y-%m-%d')}))" >"$out/runs.jsonl"
    for model in ${CONFIGS:-tiny small base}; do
        "$out/nmt-bench-model" --only "$model" | python3 -c "
import json, sys
for line in sys.stdin:
    if '\"train_step\"' in line:
        d = json.loads(line); print(json.dumps({'who': 'swift', 'model': d['model'], 'tok_s': d['target_tokens_per_second']}))
" >>"$out/runs.jsonl"
    done
fi
.build/release/nmt-bench-tensor | grep '"matmul"' >"$out/tensor.jsonl"
echo
python3 Scripts/benchmarks/compare-table.py "$out/runs.jsonl" "$out/tensor.jsonl"
