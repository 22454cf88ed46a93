"""Checks `nmt-export --format huggingface` with transformers: the exported directory
loads with MarianMTModel / MarianTokenizer, and generate() (greedy and the saved beam
settings) gives the fixture's transformers output, which swift-nmt reproduces.

    nmt-export --model-dir Tests/NMTInteropTests/Fixtures/marian/NAME --format huggingface --output OUT
    /tmp/venv/bin/python Scripts/reference/huggingface_export_check.py OUT Tests/NMTInteropTests/Fixtures/marian/NAME

Prints the identical counts; exits 1 on any difference.
"""
import json
import os
import sys

import torch
from transformers import MarianMTModel, MarianTokenizer


def main():
    exported, fixture = sys.argv[1], sys.argv[2]
    expected = json.load(open(os.path.join(fixture, "expected.json"), encoding="utf-8"))["sentences"]
    model = MarianMTModel.from_pretrained(exported).eval()
    tokenizer = MarianTokenizer.from_pretrained(exported)
    same = {"input_ids": 0, "greedy": 0, "beam": 0}
    with torch.no_grad():
        for sentence in expected:
            encoded = tokenizer([sentence["source"]], return_tensors="pt")
            same["input_ids"] += encoded["input_ids"][0].tolist() == sentence["input_ids"]
            same["greedy"] += model.generate(**encoded, num_beams=1)[0].tolist() == sentence["greedy_ids"]
            same["beam"] += model.generate(**encoded)[0].tolist() == sentence["beam_ids"]
    print(json.dumps({"sentences": len(expected), "identical": same}))
    sys.exit(0 if all(v == len(expected) for v in same.values()) else 1)


if __name__ == "__main__":
    main()
