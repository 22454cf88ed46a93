"""Marian (OPUS-MT layout) fixtures for NMTInteropTests, made with `transformers`.

Makes three small `MarianMTModel`s, trains each for a few hundred steps on the Ding
corpus so that outputs end with EOS, saves each exactly as `save_pretrained` publishes a
model (config.json, generation_config.json, weights, source.spm, target.spm, vocab.json,
target_vocab.json where separate, tokenizer_config.json), and records what
`transformers` computes for sentences of the Ding test set:

  swish-tied     shared vocabulary, tied embeddings, swish, scale_embedding, 3 encoder
                 and 2 decoder layers, length_penalty 0.8; model.safetensors
  gelu-separate  separate source / target vocabularies and SentencePiece models, untied
                 output projection, gelu, no embedding scale, a non-zero
                 final_logits_bias; pytorch_model.bin (torch.save of the state dict)
  multilingual   one vocabulary with >>deu<< and >>eng<< target-language tokens, trained
                 in both directions, relu, max_length 16 (so long sentences end by forced
                 EOS); model.safetensors

For each model `expected.json` holds, per sentence: the source text, the tokenizer's
input ids, greedy and beam `generate()` ids (generation_config as saved, num_beams 1
for greedy) with their decoded text (skip_special_tokens) and beam sequence scores;
`logits.safetensors` holds teacher-forced logits [sentences, positions, V] of the first
sentences (labels: the reference translation, shifted right from
decoder_start_token_id) and the labels themselves.

Set-up (outside the repository): python3 -m venv /tmp/venv && /tmp/venv/bin/pip install
"torch==2.13.0+cpu" transformers safetensors sentencepiece numpy. Matched versions:
transformers 5.25.0, torch 2.13.0+cpu, sentencepiece 0.2.x (pip's; the model files it
writes load in Debian's 0.1.97).

    /tmp/venv/bin/python Scripts/reference/marian_reference.py [--data ../shared/data/ding]

Writes Tests/NMTInteropTests/Fixtures/marian/<name>/. Deterministic on one CPU (torch
seeded, one thread); the checked values are recomputed by this script, never assumed.
"""
import argparse
import json
import os
import random
import shutil
import tempfile

import numpy as np
import sentencepiece as spm
import torch
from safetensors.torch import save_file
from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "Tests", "NMTInteropTests", "Fixtures", "marian")
SENTENCES = 48
LOGIT_SENTENCES = 6


def read_lines(path, count):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f][:count]


def train_spm(lines, prefix, size):
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        name = f.name
    spm.SentencePieceTrainer.train(
        input=name, model_prefix=prefix, vocab_size=size, model_type="unigram", num_threads=1, minloglevel=1,
        character_coverage=1.0)
    os.remove(name)
    os.remove(prefix + ".vocab")


def marian_vocab(spm_paths, codes=()):
    """vocab.json as the Marian conversion lays it out: </s> 0, <unk> 1, the pieces,
    language codes, <pad> last."""
    vocab = {"</s>": 0, "<unk>": 1}
    for path in spm_paths:
        model = spm.SentencePieceProcessor(model_file=path)
        for i in range(model.get_piece_size()):
            if model.is_control(i) or model.is_unknown(i):
                continue
            vocab.setdefault(model.id_to_piece(i), len(vocab))
    for code in codes:
        vocab[code] = len(vocab)
    vocab["<pad>"] = len(vocab)
    return vocab


def train(model, tokenizer, pairs, steps, batch_size=32, lr=3e-3):
    torch.manual_seed(1)
    rng = random.Random(1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        batch = rng.sample(pairs, batch_size)
        enc = tokenizer([s for s, _ in batch], text_target=[t for _, t in batch], padding=True, truncation=True,
                        max_length=64, return_tensors="pt")
        labels = enc["labels"]
        labels[labels == tokenizer.pad_token_id] = -100
        loss = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"  step {step} loss {loss.item():.3f}", flush=True)
    model.eval()


def record(model, tokenizer, sources, targets, out):
    rows = []
    with torch.no_grad():
        for source in sources:
            enc = tokenizer([source], return_tensors="pt")
            greedy = model.generate(**enc, num_beams=1, do_sample=False)
            beam = model.generate(**enc, output_scores=True, return_dict_in_generate=True)
            rows.append({
                "source": source,
                "input_ids": enc["input_ids"][0].tolist(),
                "greedy_ids": greedy[0].tolist(),
                "greedy_text": tokenizer.decode(greedy[0], skip_special_tokens=True),
                "beam_ids": beam.sequences[0].tolist(),
                "beam_text": tokenizer.decode(beam.sequences[0], skip_special_tokens=True),
                "beam_score": float(beam.sequences_scores[0]),
            })
        enc = tokenizer(sources[:LOGIT_SENTENCES], text_target=targets[:LOGIT_SENTENCES], padding=True,
                        return_tensors="pt")
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=enc["labels"]).logits
        # Ids as float32 (exact below 2^24): swift-nmt's safetensors reader reads F32 only.
        save_file({"logits": logits.contiguous(), "labels": enc["labels"].to(torch.float32).contiguous(),
                   "input_ids": enc["input_ids"].to(torch.float32).contiguous()},
                  os.path.join(out, "logits.safetensors"))
    return rows


def make(name, data, *, separate, codes, config_args, generation_args, safetensors, steps, bias=False):
    print(name, flush=True)
    out = os.path.join(OUT, name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    train_en = read_lines(os.path.join(data, "train.en"), 6000)
    train_de = read_lines(os.path.join(data, "train.de"), 6000)
    work = tempfile.mkdtemp()
    source_spm, target_spm = os.path.join(work, "source"), os.path.join(work, "target")
    if separate:
        train_spm(train_en, source_spm, 300)
        train_spm(train_de, target_spm, 350)
    else:
        train_spm(train_en + train_de, source_spm, 500)
        shutil.copy(source_spm + ".model", target_spm + ".model")
    vocab_path, target_vocab_path = os.path.join(work, "vocab.json"), os.path.join(work, "target_vocab.json")
    if separate:
        source_vocab, target_vocab = marian_vocab([source_spm + ".model"]), marian_vocab([target_spm + ".model"])
        json.dump(target_vocab, open(target_vocab_path, "w"), ensure_ascii=False)
    else:
        source_vocab = target_vocab = marian_vocab([source_spm + ".model"], codes)
    json.dump(source_vocab, open(vocab_path, "w"), ensure_ascii=False)
    tokenizer = MarianTokenizer(
        source_spm + ".model", target_spm + ".model", vocab_path,
        target_vocab_file=target_vocab_path if separate else None, separate_vocabs=separate)
    pad = source_vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(source_vocab), decoder_vocab_size=len(target_vocab), pad_token_id=pad,
        decoder_start_token_id=pad, eos_token_id=0, forced_eos_token_id=0, max_position_embeddings=128,
        share_encoder_decoder_embeddings=not separate, **config_args)
    torch.manual_seed(0)
    model = MarianMTModel(config)
    if bias:
        model.final_logits_bias.copy_(torch.randn_like(model.final_logits_bias) * 0.5)
    if codes:
        pairs = [(f">>deu<< {e}", d) for e, d in zip(train_en, train_de)]
        pairs += [(f">>eng<< {d}", e) for e, d in zip(train_en, train_de)]
    else:
        pairs = list(zip(train_en, train_de))
    train(model, tokenizer, pairs, steps)
    model.generation_config = GenerationConfig(
        bad_words_ids=[[pad]], decoder_start_token_id=pad, eos_token_id=0, forced_eos_token_id=0, pad_token_id=pad,
        **generation_args)
    if safetensors:
        model.save_pretrained(out)
    else:
        model.save_pretrained(out)
        os.remove(os.path.join(out, "model.safetensors"))
        # As older transformers published them: torch.save of the state dict (zip + pickle),
        # an OrderedDict with its _metadata attribute (pickled with BUILD).
        state = model.state_dict()
        for key in [k for k in state if "embed_positions" in k]:
            del state[key]
        torch.save(state, os.path.join(out, "pytorch_model.bin"))
    tokenizer.save_pretrained(out)
    test_en = read_lines(os.path.join(data, "test.en"), SENTENCES)
    test_de = read_lines(os.path.join(data, "test.de"), SENTENCES)
    if codes:
        half = SENTENCES // 2
        sources = [f">>deu<< {s}" for s in test_en[:half]] + [f">>eng<< {s}" for s in test_de[half:]]
        targets = test_de[:half] + test_en[half:]
    else:
        sources, targets = test_en, test_de
    # Reload as a user would, so the fixtures are what the saved directory gives.
    model = MarianMTModel.from_pretrained(out)
    tokenizer = MarianTokenizer.from_pretrained(out)
    rows = record(model, tokenizer, sources, targets, out)
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"model": name, "sentences": rows}, f, ensure_ascii=False, indent=1)
    shutil.rmtree(work)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "ding"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    common = dict(d_model=32, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                  decoder_ffn_dim=64, dropout=0.0)
    make("swish-tied", args.data, separate=False, codes=(), safetensors=True, steps=400,
         config_args=dict(common, encoder_layers=3, decoder_layers=2, activation_function="swish",
                          scale_embedding=True, tie_word_embeddings=True),
         generation_args=dict(num_beams=4, max_length=64, length_penalty=0.8))
    make("gelu-separate", args.data, separate=True, codes=(), safetensors=False, steps=400, bias=True,
         config_args=dict(common, encoder_layers=2, decoder_layers=2, activation_function="gelu",
                          scale_embedding=False, tie_word_embeddings=False),
         generation_args=dict(num_beams=4, max_length=64))
    make("multilingual", args.data, separate=False, codes=(">>deu<<", ">>eng<<"), safetensors=True, steps=500,
         config_args=dict(common, encoder_layers=2, decoder_layers=2, activation_function="relu",
                          scale_embedding=True, tie_word_embeddings=True),
         generation_args=dict(num_beams=3, max_length=16))


if __name__ == "__main__":
    main()
