"""Fine-tuning a pretrained Marian model with swift-nmt: dev BLEU before and after.

Issue 25's measurement. No pretrained OPUS-MT model is reachable here, so the script makes
a stand-in with transformers: a small MarianMTModel (shared SentencePiece vocabulary of
8,000 pieces, d_model 256, 3+3 layers, swish) trained briefly on the Ding corpus and saved
with save_pretrained, as an OPUS-MT directory is published. Then, with release builds of
swift-nmt's programs:

1. `nmt-train --init-from BASE --train-source train.en --train-target train.de
   --dev-source dev.en --dev-target dev.de` for a fixed time (it logs the dev BLEU before
   fine-tuning and after each evaluation);
2. `nmt-translate` + `nmt-bleu` of the held-out test lines, before (BASE) and after (the
   fine-tuned model directory);
3. `nmt-export --format huggingface` of the fine-tuned model, and transformers'
   `generate()` on the test lines from that export: BLEU equal to swift-nmt's;
4. `nmt-export --format ctranslate2` of the fine-tuned model, and CTranslate2's greedy
   search on the test lines (transformers' tokenizer from step 3 gives the source
   tokens), against `nmt-translate --greedy`.

Steps whose output exists are skipped (the base model, the fine-tuning run, the exports),
so a second run only repeats the comparisons.

Dev: the first 500 lines of Ding's test files; test: the remaining 506.

    swift build -c release --product nmt-train --product nmt-translate --product nmt-bleu --product nmt-export
    /tmp/venv/bin/python Scripts/benchmarks/marian-finetune.py --work /tmp/finetune [--seconds 600]

Set-up of /tmp/venv: see Scripts/reference/marian_reference.py.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import sentencepiece as spm
import torch
from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RELEASE = os.path.join(ROOT, ".build", "release")


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def write(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")


def make_base(data, out, steps):
    """A small Marian model trained `steps` AdamW steps on Ding, saved as OPUS-MT is."""
    train_en, train_de = lines(os.path.join(data, "train.en")), lines(os.path.join(data, "train.de"))
    work = tempfile.mkdtemp()
    prefix = os.path.join(work, "spm")
    write(prefix + ".txt", train_en + train_de)
    spm.SentencePieceTrainer.train(
        input=prefix + ".txt", model_prefix=prefix, vocab_size=8000, model_type="unigram", num_threads=2, minloglevel=1,
        character_coverage=1.0)
    # vocab.json as the Marian conversion lays it out: </s> 0, <unk> 1, the pieces, <pad> last.
    vocab = {"</s>": 0, "<unk>": 1}
    model = spm.SentencePieceProcessor(model_file=prefix + ".model")
    for i in range(model.get_piece_size()):
        if not (model.is_control(i) or model.is_unknown(i)):
            vocab.setdefault(model.id_to_piece(i), len(vocab))
    vocab["<pad>"] = len(vocab)
    with open(os.path.join(work, "vocab.json"), "w") as f:
        json.dump(vocab, f, ensure_ascii=False)
    tokenizer = MarianTokenizer(prefix + ".model", prefix + ".model", os.path.join(work, "vocab.json"))
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab), decoder_vocab_size=len(vocab), d_model=256, encoder_layers=3, decoder_layers=3,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=1024, decoder_ffn_dim=1024,
        activation_function="swish", scale_embedding=True, max_position_embeddings=256, dropout=0.1,
        pad_token_id=pad, decoder_start_token_id=pad, eos_token_id=0, forced_eos_token_id=0)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = MarianMTModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    rng = random.Random(1)
    pairs = list(zip(train_en, train_de))
    model.train()
    for step in range(steps):
        batch = rng.sample(pairs, 48)
        enc = tokenizer([s for s, _ in batch], text_target=[t for _, t in batch], padding=True, truncation=True,
                        max_length=64, return_tensors="pt")
        labels = enc["labels"]
        labels[labels == pad] = -100
        loss = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"  base model step {step} loss {loss.item():.3f}", flush=True)
    model.eval()
    model.generation_config = GenerationConfig(
        num_beams=4, max_length=128, bad_words_ids=[[pad]], decoder_start_token_id=pad, eos_token_id=0,
        forced_eos_token_id=0, pad_token_id=pad)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def run(command, log=None):
    print("$ " + " ".join(command), flush=True)
    with open(log, "w") if log else open(os.devnull, "w") as sink:
        process = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sink.write(process.stdout)
    if process.returncode != 0:
        sys.exit(f"failed ({process.returncode}):\n{process.stdout[-3000:]}")
    return process.stdout


def bleu(reference, hypotheses):
    output = run([os.path.join(RELEASE, "nmt-bleu"), "--reference", reference, "--translation", hypotheses])
    return output.strip().splitlines()[-1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "ding"))
    parser.add_argument("--work", required=True)
    parser.add_argument("--base-steps", type=int, default=600)
    parser.add_argument("--seconds", type=int, default=600)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    base, tuned = os.path.join(args.work, "base"), os.path.join(args.work, "tuned")
    if not os.path.exists(os.path.join(base, "config.json")):
        started = time.time()
        make_base(args.data, base, args.base_steps)
        print(f"base model: {time.time() - started:.0f} s", flush=True)
    test_en, test_de = lines(os.path.join(args.data, "test.en")), lines(os.path.join(args.data, "test.de"))
    files = {}
    for name, rows in [("dev.en", test_en[:500]), ("dev.de", test_de[:500]), ("test.en", test_en[500:]),
                       ("test.de", test_de[500:])]:
        files[name] = os.path.join(args.work, name)
        write(files[name], rows)

    before = os.path.join(args.work, "test.before.de")
    run([os.path.join(RELEASE, "nmt-translate"), "--model-dir", base, "--file", files["test.en"], "--output", before])
    print("test BLEU before:", bleu(files["test.de"], before), flush=True)

    train_log = os.path.join(args.work, "nmt-train.log")
    if not os.path.exists(tuned):
        started = time.time()
        run([os.path.join(RELEASE, "nmt-train"), "--init-from", base, "--train-source", os.path.join(args.data, "train.en"),
             "--train-target", os.path.join(args.data, "train.de"), "--dev-source", files["dev.en"],
             "--dev-target", files["dev.de"], "--model-dir", tuned, "--max-seconds", str(args.seconds),
             "--train-steps", "100000", "--steps-between-evals", "500", "--batch-size", "2048"],
            log=train_log)
        print(f"nmt-train: {time.time() - started:.0f} s", flush=True)
    for line in lines(train_log):
        if "BLEU" in line or "steps in" in line:
            print("  " + line.split("] ")[-1] if "] " in line else "  " + line, flush=True)

    after = os.path.join(args.work, "test.after.de")
    run([os.path.join(RELEASE, "nmt-translate"), "--model-dir", tuned, "--file", files["test.en"], "--output", after])
    print("test BLEU after:", bleu(files["test.de"], after), flush=True)

    exported = os.path.join(args.work, "tuned-hf")
    if not os.path.exists(exported):
        run([os.path.join(RELEASE, "nmt-export"), "--model-dir", tuned, "--format", "huggingface", "--output", exported])
    model, tokenizer = MarianMTModel.from_pretrained(exported), MarianTokenizer.from_pretrained(exported)
    model.eval()
    rows = []
    with torch.no_grad():
        for start in range(0, len(test_en) - 500, 16):
            enc = tokenizer(test_en[500 + start:500 + start + 16], return_tensors="pt", padding=True)
            rows += tokenizer.batch_decode(model.generate(**enc), skip_special_tokens=True)
    transformers_output = os.path.join(args.work, "test.after.transformers.de")
    write(transformers_output, rows)
    print("test BLEU after, transformers generate() on the export:", bleu(files["test.de"], transformers_output), flush=True)
    same = sum(a == b for a, b in zip(lines(after), rows))
    print(f"identical translations (beam, transformers vs swift-nmt): {same}/{len(rows)}", flush=True)

    ct2 = os.path.join(args.work, "tuned-ct2")
    if not os.path.exists(ct2):
        run([os.path.join(RELEASE, "nmt-export"), "--model-dir", tuned, "--format", "ctranslate2", "--output", ct2])
    greedy = os.path.join(args.work, "test.after.greedy.de")
    run([os.path.join(RELEASE, "nmt-translate"), "--model-dir", tuned, "--greedy", "--file", files["test.en"], "--output", greedy])
    import ctranslate2
    translator = ctranslate2.Translator(ct2, device="cpu", inter_threads=1, intra_threads=2)
    sources = [tokenizer.convert_ids_to_tokens(tokenizer(line)["input_ids"]) for line in test_en[500:]]
    # transformers' max_length counts the decoder start token, and forced EOS takes the last
    # place: at most max_length - 2 tokens of text, which CTranslate2 is told.
    results = translator.translate_batch(
        sources, beam_size=1, max_decoding_length=model.generation_config.max_length - 2,
        suppress_sequences=[[tokenizer.pad_token]])
    ct2_rows = [tokenizer.convert_tokens_to_string([t for t in r.hypotheses[0] if t not in ("</s>", "<pad>")]) for r in results]
    same = sum(a == b for a, b in zip(lines(greedy), ct2_rows))
    print(f"identical translations (greedy, CTranslate2 vs swift-nmt): {same}/{len(ct2_rows)}", flush=True)
    for a, b in [(a, b) for a, b in zip(lines(greedy), ct2_rows) if a != b][:3]:
        print(f"  swift-nmt:   {a}\n  CTranslate2: {b}", flush=True)


if __name__ == "__main__":
    main()
