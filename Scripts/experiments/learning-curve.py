"""The learning curve of a training run, from nmt-train's log: dev loss and dev BLEU
against minutes of training, as a Markdown table.

    python3 Scripts/experiments/learning-curve.py LOG [LOG...]

Give the logs of a run and of its resumptions in order: the minutes continue across them
(each log counts from its first line to its last). The main job saves its training log as
WORK/train.log.
"""
import re
import sys
from datetime import datetime

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
EVALUATION = re.compile(r"iteration \d+, step (\d+):.* loss = ([0-9.]+)")
BLEU = re.compile(r"BLEU \(uncased\) ([0-9.]+), \(cased\) ([0-9.]+)")


def rows(paths):
    offset = 0.0
    for path in paths:
        first = last = None
        pending = None
        for line in open(path, encoding="utf-8"):
            stamp = STAMP.match(line)
            if not stamp:
                continue
            time = datetime.strptime(stamp.group(1), "%Y-%m-%dT%H:%M:%S")
            first = first or time
            last = time
            minutes = offset + (time - first).total_seconds() / 60
            if match := EVALUATION.search(line):
                pending = (minutes, int(match.group(1)), float(match.group(2)))
            elif (match := BLEU.search(line)) and pending:
                yield pending + (float(match.group(1)), float(match.group(2)))
                pending = None
        if first:
            offset += (last - first).total_seconds() / 60


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("| minutes | step | dev loss | dev BLEU uncased | cased |")
    print("|---|---|---|---|---|")
    for minutes, step, loss, uncased, cased in rows(sys.argv[1:]):
        print(f"| {minutes:.1f} | {step:,} | {loss:.3f} | {uncased:.2f} | {cased:.2f} |")


if __name__ == "__main__":
    main()
