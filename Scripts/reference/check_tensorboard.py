#!/usr/bin/env python3
"""Reads swift-nmt's TensorBoard event files with TensorBoard's own loader and prints
every scalar tag with its number of points and last value.

Needs `pip install tensorboard`. Run: python3 Scripts/reference/check_tensorboard.py MODEL_DIR [MODEL_DIR/eval]
Exits non-zero when a directory holds no scalars.
"""
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

for directory in sys.argv[1:]:
    accumulator = EventAccumulator(directory)
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    if not tags:
        sys.exit(f"no scalars in {directory}")
    for tag in sorted(tags):
        points = accumulator.Scalars(tag)
        print(f"{directory}: {tag}: {len(points)} points, last step {points[-1].step} value {points[-1].value:.6g}")
