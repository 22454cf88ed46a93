#!/usr/bin/env python3
"""Turns the JSON lines of a side-by-side run (../shared/bench/side_by_side.py) and of
`nmt-bench-tensor` into the Markdown table of Documentation/Performance.md: per model the
median target tokens/s of PyTorch eager and of swift-nmt, their ratio, the model GFLOP/s
each reached, and cblas_sgemm's GFLOP/s on large products measured in the same run.

    python3 Scripts/benchmarks/compare-table.py SIDE_BY_SIDE.jsonl [TENSOR.jsonl]

FLOPs per step count matrix products only (2 per multiply-add, backward twice forward),
for 32 sentences x 64 source and 64 target tokens, as the runner measures."""
import json
import statistics
import sys

MODELS = {  # hidden, filter, encoder layers, decoder layers, vocabulary
    "tiny": (32, 256, 6, 6, 33708),
    "small": (256, 1024, 3, 3, 8192),
    "base": (512, 2048, 6, 6, 33708),
}


def step_flops(model, batch=32, length=64):
    hidden, filter_size, encoder_layers, decoder_layers, vocabulary = MODELS[model]
    tokens = batch * length
    encoder = encoder_layers * (4 * hidden * hidden + 2 * hidden * filter_size)  # attention Q,K,V,O and FFN
    decoder = decoder_layers * (6 * hidden * hidden + 2 * hidden * filter_size)  # self Q,K,V,O, cross Q,O, FFN
    cross_keys_values = decoder_layers * 2 * hidden * hidden                      # on the encoder's outputs
    scores = 4 * batch * hidden * (length * length * encoder_layers + 2 * length * length * decoder_layers)
    forward = 2 * tokens * (encoder + decoder + cross_keys_values) + scores + 2 * tokens * hidden * vocabulary
    return 3 * forward


def main():
    runs = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
    header = next((r for r in runs if "cpu" in r), {})
    sgemm = []
    if len(sys.argv) > 2:
        sgemm = [r["cblas_gflops_median"] for r in map(json.loads, open(sys.argv[2])) if r.get("benchmark") == "matmul"]
    print(f"CPU: {header.get('cpu', '?')}, date: {header.get('date', '?')}, 2 threads, batch 32 x 64 tokens, dropout 0.1, Adam")
    if sgemm:
        print(f"cblas_sgemm on 2048x512x512 ... 2048x512x33708 in the same run: {min(sgemm):.0f}-{max(sgemm):.0f} GFLOP/s")
    print()
    print("| model | PyTorch eager tok/s | swift-nmt tok/s | ratio | swift-nmt model GFLOP/s | share of sgemm |")
    print("|---|---|---|---|---|---|")
    for model in MODELS:
        torch = [r["tok_s"] for r in runs if r.get("who") == "torch" and r.get("model") == model]
        swift = [r["tok_s"] for r in runs if r.get("who") == "swift" and r.get("model") == model]
        if not swift:
            continue
        s = statistics.median(swift)
        gflops = step_flops(model) / (2048 / s) / 1e9
        share = f"{100 * gflops / statistics.median(sgemm):.0f} %" if sgemm else "-"
        t = f"{statistics.median(torch):,.0f}" if torch else "not installed"
        ratio = f"{s / statistics.median(torch):.2f} x" if torch else "-"
        print(f"| {model} | {t} | {s:,.0f} | {ratio} | {gflops:.0f} | {share} |")


if __name__ == "__main__":
    main()
