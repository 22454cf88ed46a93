#!/usr/bin/env python3
"""Checks that a model saved by swift-nmt opens with Python's `safetensors` package.

Prints each tensor's name, shape and sum, and compares them with the expectations in
an optional JSON file {name: [shape, sum]}. Needs `pip install safetensors numpy`.
Run: python3 Scripts/reference/check_safetensors.py MODEL_DIR/model.safetensors [expected.json]
"""
import json
import sys

from safetensors.numpy import load_file

tensors = load_file(sys.argv[1])
for name in sorted(tensors):
    print(f"{name} {list(tensors[name].shape)} {float(tensors[name].astype('float64').sum()):.6f}")
if len(sys.argv) > 2:
    with open(sys.argv[2]) as f:
        expected = json.load(f)
    assert sorted(expected) == sorted(tensors), "tensor names differ"
    for name, (shape, total) in expected.items():
        assert list(tensors[name].shape) == shape, f"{name}: shape {tensors[name].shape} != {shape}"
        assert abs(float(tensors[name].astype('float64').sum()) - total) <= 1e-4 * max(1.0, abs(total)), name
    print(f"OK: {len(tensors)} tensors match")
