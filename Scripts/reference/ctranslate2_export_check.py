"""Checks `nmt-export --format ctranslate2` with the `ctranslate2` Python package: the
exported directory loads, and its greedy output equals swift-nmt's.

Our models (the reference family), against `nmt-translate --greedy`:

    python Scripts/reference/ctranslate2_export_check.py ours CT2_DIR --vocab VOCAB \\
        --text SOURCE.txt --swift TRANSLATIONS.txt [--bin .build/release]

  SOURCE.txt is encoded with `nmt-prepare encode --eos`, the ids become the exported
  vocabulary's token strings, CTranslate2 decodes greedily (max length: the batch's
  longest source + 100, as nmt-translate; min length 0), and its tokens go back to ids and
  through `nmt-prepare decode`; TRANSLATIONS.txt is `nmt-translate --greedy`'s output.

Marian models, against the fixtures' transformers greedy ids (expected.json of
Scripts/reference/marian_reference.py):

    python Scripts/reference/ctranslate2_export_check.py marian CT2_DIR --fixture DIR

  The source tokens are transformers' input ids as the exported vocabulary's strings;
  padding is suppressed as generation_config's bad_words_ids does.

--beam 4 compares beam search instead (CTranslate2 normalizes a hypothesis's score by
L^alpha, our models' search by ((5 + L) / 6)^alpha, so some lines differ by design; for
Marian, transformers' sum / L^length_penalty). Prints the number of identical lines and
the first differences; exits 1 on any.
Needs: pip install ctranslate2 (4.8.5 here) and, for `marian`, nothing else.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import ctranslate2


def vocabulary(directory):
    for name in ("shared_vocabulary.json", "target_vocabulary.json"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            target = json.load(open(path, encoding="utf-8"))
            source_path = os.path.join(directory, "source_vocabulary.json")
            source = json.load(open(source_path, encoding="utf-8")) if os.path.exists(source_path) else target
            return source, target
    raise SystemExit(f"{directory}: no vocabulary file")


def check_ours(args):
    source_tokens, target_tokens = vocabulary(args.model)
    index = {token: i for i, token in enumerate(target_tokens)}
    encoded = subprocess.run([os.path.join(args.bin, "nmt-prepare"), "encode", "--vocab", args.vocab, "--eos", args.text],
                             capture_output=True, text=True, check=True).stdout.split("\n")[:-1]
    lines = open(args.text, encoding="utf-8").read().split("\n")[:-1]
    translator = ctranslate2.Translator(args.model, device="cpu", intra_threads=2)
    ids = [[int(x) for x in line.split()] for line in encoded]
    outputs = [None] * len(ids)
    # nmt-translate's batches: 32 sentences by whitespace word count, longest first.
    order = sorted(range(len(lines)), key=lambda j: -len(lines[j].split()))
    for start in range(0, len(order), 32):
        batch = [j for j in order[start:start + 32] if lines[j].strip()]
        if not batch:
            continue
        width = max(len(ids[j]) for j in batch)
        results = translator.translate_batch(
            [[source_tokens[i] for i in ids[j]] for j in batch], beam_size=args.beam, length_penalty=args.alpha,
            max_decoding_length=width + 100, min_decoding_length=0)
        for j, result in zip(batch, results):
            outputs[j] = [index[token] for token in result.hypotheses[0]]
    with tempfile.NamedTemporaryFile("w", suffix=".ids", delete=False) as f:
        for out in outputs:
            f.write(" ".join(map(str, out or [])) + "\n")
        path = f.name
    decoded = subprocess.run([os.path.join(args.bin, "nmt-prepare"), "decode", "--vocab", args.vocab, path],
                             capture_output=True, text=True, check=True).stdout.split("\n")[:-1]
    os.remove(path)
    decoded = [d if lines[j].strip() else "" for j, d in enumerate(decoded)]
    swift = open(args.swift, encoding="utf-8").read().split("\n")[:-1]
    return report(decoded, swift, lines)


def check_marian(args):
    source_tokens, target_tokens = vocabulary(args.model)
    expected = json.load(open(os.path.join(args.fixture, "expected.json"), encoding="utf-8"))["sentences"]
    translator = ctranslate2.Translator(args.model, device="cpu", intra_threads=2)
    generation = json.load(open(os.path.join(args.fixture, "generation_config.json")))
    ours, theirs = [], []
    for sentence in expected:
        result = translator.translate_batch(
            [[source_tokens[i] for i in sentence["input_ids"]]], beam_size=args.beam,
            length_penalty=generation.get("length_penalty", 1.0), max_decoding_length=256, min_decoding_length=0,
            suppress_sequences=[["<pad>"]])[0]
        ours.append(" ".join(result.hypotheses[0]))
        # transformers' ids after the start token, without the final EOS (id 0), as tokens.
        generated = sentence["greedy_ids" if args.beam == 1 else "beam_ids"][1:]
        if generated and generated[-1] == 0:
            generated = generated[:-1]
        theirs.append(" ".join(target_tokens[i] for i in generated))
    return report(ours, theirs, [s["source"] for s in expected])


def report(ctranslate2_lines, swift_lines, sources):
    same = sum(a == b for a, b in zip(ctranslate2_lines, swift_lines))
    print(json.dumps({"lines": len(swift_lines), "identical": same, "ctranslate2": ctranslate2.__version__}))
    shown = 0
    for a, b, s in zip(ctranslate2_lines, swift_lines, sources):
        if a != b and shown < 5:
            print(f"source: {s}\n  ctranslate2: {a}\n  swift-nmt:   {b}")
            shown += 1
    return same == len(swift_lines) == len(ctranslate2_lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("family", choices=["ours", "marian"])
    parser.add_argument("model")
    parser.add_argument("--vocab")
    parser.add_argument("--text")
    parser.add_argument("--swift")
    parser.add_argument("--bin", default=".build/release")
    parser.add_argument("--fixture")
    parser.add_argument("--beam", type=int, default=1, help="beams (1: greedy); --swift must then be nmt-translate's beam output")
    parser.add_argument("--alpha", type=float, default=0.6, help="ours: CTranslate2's length_penalty (L^alpha, not ((5+L)/6)^alpha)")
    args = parser.parse_args()
    ok = check_ours(args) if args.family == "ours" else check_marian(args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
