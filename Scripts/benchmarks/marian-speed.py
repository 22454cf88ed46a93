"""Translation speed of an OPUS-MT-sized Marian model: nmt-translate against
transformers' generate(), alternating, on the same sentences, threads and output length.

The model is MarianMTModel's OPUS-MT shape (d_model 512, 6+6 layers, 8 heads, ffn 2048,
swish, scale_embedding, 58,101 ids) with random weights (seed 0), saved as
save_pretrained publishes it. Random weights never choose EOS reliably, so both sides
make the same fixed number of tokens: generation_config bans EOS (bad_words_ids) and
forces it at max_length, so every output is exactly --tokens tokens and both do the
same work. The tokenizer is a SentencePiece model trained on the Ding corpus, its
pieces padded with filler entries to 58,101 ids.

    /tmp/venv/bin/python Scripts/benchmarks/marian-speed.py .build/release/nmt-translate \\
        --data ../shared/data/ding [--rounds 3] [--tokens 32] [--threads 2]

Each round runs, alternating which goes first, nmt-translate --benchmark (translation
time without model loading, from its JSON line) and generate() over the same sentences
in batches of 32 sorted longest first (time of the generate() calls, tokenization and
decoding to text included, model loading excluded). Prints one JSON line per run and a
median table; also how many outputs agree token for token (a check that both did the
same search, not a goal: random weights make near-ties common).
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import sentencepiece as spm
import torch
from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

VOCABULARY = 58101


def build(directory, data, tokens):
    if os.path.exists(os.path.join(directory, "config.json")):
        return
    os.makedirs(directory, exist_ok=True)
    work = tempfile.mkdtemp()
    prefix = os.path.join(work, "spm")
    spm.SentencePieceTrainer.train(
        input=",".join(os.path.join(data, f) for f in ("train.en", "train.de")), model_prefix=prefix,
        vocab_size=8000, model_type="unigram", num_threads=2, minloglevel=1)
    model = spm.SentencePieceProcessor(model_file=prefix + ".model")
    vocab = {"</s>": 0, "<unk>": 1}
    for i in range(model.get_piece_size()):
        if not (model.is_control(i) or model.is_unknown(i)):
            vocab.setdefault(model.id_to_piece(i), len(vocab))
    while len(vocab) < VOCABULARY - 1:
        vocab[f"\u2581filler{len(vocab)}"] = len(vocab)
    vocab["<pad>"] = len(vocab)
    with open(os.path.join(work, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    tokenizer = MarianTokenizer(prefix + ".model", prefix + ".model", os.path.join(work, "vocab.json"))
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=VOCABULARY, decoder_vocab_size=VOCABULARY, d_model=512, encoder_layers=6, decoder_layers=6,
        encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048,
        activation_function="swish", scale_embedding=True, max_position_embeddings=512, pad_token_id=pad,
        decoder_start_token_id=pad, eos_token_id=0, forced_eos_token_id=0, dropout=0.1)
    torch.manual_seed(0)
    marian = MarianMTModel(config)
    marian.generation_config = GenerationConfig(
        bad_words_ids=[[pad], [0]], decoder_start_token_id=pad, eos_token_id=0, forced_eos_token_id=0,
        pad_token_id=pad, num_beams=4, max_length=tokens + 1)
    marian.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def run_transformers(model, tokenizer, lines, beams):
    order = sorted(range(len(lines)), key=lambda i: -len(tokenizer(lines[i])["input_ids"]))
    outputs = [None] * len(lines)
    start = time.perf_counter()
    with torch.inference_mode():
        for b in range(0, len(order), 32):
            batch = order[b:b + 32]
            encoded = tokenizer([lines[i] for i in batch], return_tensors="pt", padding=True)
            generated = model.generate(**encoded, num_beams=beams)
            for i, sequence in zip(batch, generated):
                outputs[i] = tokenizer.decode(sequence, skip_special_tokens=True)
    return time.perf_counter() - start, outputs


def run_swift(binary, directory, source, beams):
    with tempfile.NamedTemporaryFile(suffix=".txt", delete=False) as out:
        path = out.name
    flags = ["--greedy"] if beams == 1 else []
    result = subprocess.run([binary, "--model-dir", directory, "--file", source, "--output", path, "--benchmark"] + flags,
                            capture_output=True, text=True, check=True)
    record = json.loads(result.stderr.strip().splitlines()[-1])
    with open(path, encoding="utf-8") as f:
        outputs = f.read().split("\n")[:-1]
    os.remove(path)
    return record["seconds"], outputs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--data", default="../shared/data/ding")
    parser.add_argument("--model", default="/tmp/marian-opus-size")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    build(args.model, args.data, args.tokens)
    torch.set_num_threads(args.threads)
    model = MarianMTModel.from_pretrained(args.model).eval()
    tokenizer = MarianTokenizer.from_pretrained(args.model)
    source = os.path.join(args.data, "test.en")
    with open(source, encoding="utf-8") as f:
        lines = f.read().split("\n")[:-1]
    times = {}
    for beams in (4, 1):
        for r in range(args.rounds):
            runs = [("swift-nmt", lambda: run_swift(args.binary, args.model, source, beams)),
                    ("transformers", lambda: run_transformers(model, tokenizer, lines, beams))]
            if r % 2:
                runs.reverse()
            outputs = {}
            for name, run in runs:
                seconds, outputs[name] = run()
                times.setdefault((beams, name), []).append(seconds)
                print(json.dumps({"beams": beams, "round": r, "system": name, "seconds": round(seconds, 3)}), flush=True)
            agree = sum(a == b for a, b in zip(outputs["swift-nmt"], outputs["transformers"]))
            print(json.dumps({"beams": beams, "round": r, "identical_lines": agree, "lines": len(lines)}), flush=True)
    print(f"\n{len(lines)} sentences, {args.tokens} output tokens each, {args.threads} threads, median of {args.rounds}")
    print("| search | transformers generate() | swift-nmt | speed-up |\n|---|---|---|---|")
    for beams in (4, 1):
        theirs, ours = statistics.median(times[(beams, "transformers")]), statistics.median(times[(beams, "swift-nmt")])
        label = f"beam {beams}" if beams > 1 else "greedy"
        print(f"| {label} | {theirs:.2f} s | {ours:.2f} s | {theirs / ours:.2f}x |")


if __name__ == "__main__":
    main()
