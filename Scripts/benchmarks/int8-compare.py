#!/usr/bin/env python3
"""int8-compare.py - nmt-translate float32 and --int8 against CTranslate2 float32 and int8
(both thread settings) on one file, beam 4: alternating rounds, each run a fresh process,
then medians, BLEU and how many lines equal nmt-translate float32's.

    PY=/tmp/venv/bin/python Scripts/benchmarks/int8-compare.py MODEL VOCAB CT2_DIR SOURCE REFERENCE [OUT_DIR]

MODEL is what nmt-translate gets as --model-dir; CT2_DIR the same checkpoint converted by
../shared/bench/ct2_convert.py (CTranslate2 quantizes it to int8 when loading). CTranslate2
runs through the yardstick ../shared/bench/ct2_translate.py (BENCH to move it) on the ids
nmt-prepare encodes, with nmt-translate's batching. Env ROUNDS (3), SYSTEMS (default all:
nmt, nmt-int8, ct2-f32-intra, ct2-f32-inter, ct2-int8-intra, ct2-int8-inter; "intra" is
intra_threads 2, "inter" inter_threads 2). Times are the translation alone, as each
program reports it. Needs sacrebleu in PY; run after `swift build -c release`.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".build", "release")
BENCH = os.environ.get("BENCH", os.path.join(ROOT, "..", "shared", "bench"))
PY = os.environ.get("PY", "/tmp/venv/bin/python")
MODEL, VOCAB, CT2, SOURCE, REFERENCE = sys.argv[1:6]
OUT = sys.argv[6] if len(sys.argv) > 6 else tempfile.mkdtemp(prefix="int8-compare-")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
ALL = ["nmt", "nmt-int8", "ct2-f32-intra", "ct2-f32-inter", "ct2-int8-intra", "ct2-int8-inter"]
SYSTEMS = os.environ.get("SYSTEMS", " ".join(ALL)).split()
os.makedirs(OUT, exist_ok=True)


def busy_seconds():
    """CPU seconds the whole machine has spent busy so far (/proc/stat)."""
    fields = list(map(int, open("/proc/stat").readline().split()[1:]))
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / os.sysconf("SC_CLK_TCK")


def command(system):
    if system.startswith("nmt"):
        return [f"{BIN}/nmt-translate", "--model-dir", MODEL, "--vocab", VOCAB, "--file", SOURCE,
                "--output", f"{OUT}/{system}.txt", "--benchmark"] + (["--int8"] if system == "nmt-int8" else [])
    _, kind, threads = system.split("-")
    compute = "int8" if kind == "int8" else "float32"
    setting = ["--intra", "2", "--inter", "1"] if threads == "intra" else ["--intra", "1", "--inter", "2"]
    return [PY, f"{BENCH}/ct2_translate.py", CT2, SOURCE, f"{OUT}/source.ids", f"{OUT}/{system}.ids",
            "--beam", "4", "--compute-type", compute] + setting


def timed(system):
    """Runs one system; returns its translation seconds and the other processes' load."""
    before, start = busy_seconds(), time.perf_counter()
    children = os.times()
    done = subprocess.run(command(system), capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        sys.exit(f"{system} failed:\n{done.stderr[-2000:]}")
    own = (after.children_user - children.children_user) + (after.children_system - children.children_system)
    foreign = max(0.0, busy_seconds() - before - own) / wall
    stream = done.stderr if system.startswith("nmt") else done.stdout
    record = json.loads([line for line in stream.splitlines() if '"seconds"' in line][-1])
    return record["seconds"], round(foreign, 3)


with open(f"{OUT}/source.ids", "w") as ids:
    subprocess.run([f"{BIN}/nmt-prepare", "encode", "--vocab", VOCAB, "--eos", SOURCE], stdout=ids, check=True)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = open("/proc/cpuinfo").read()
print(json.dumps({"cpu": cpu, "vnni": "avx512_vnni" in flags, "cores": os.cpu_count(),
                  "date": time.strftime("%Y-%m-%d %H:%M"), "systems": SYSTEMS}), flush=True)
times = {system: [] for system in SYSTEMS}
for round_number in range(1, ROUNDS + 1):
    for system in SYSTEMS:
        seconds, foreign = timed(system)
        times[system].append(seconds)
        print(json.dumps({"system": system, "round": round_number, "seconds": seconds, "foreign_cores": foreign}), flush=True)

import sacrebleu  # noqa: E402  (only the summary needs it)

references = open(REFERENCE, encoding="utf-8").read().split("\n")[:-1]
texts = {}
for system in SYSTEMS:
    if system.startswith("ct2"):
        with open(f"{OUT}/{system}.txt", "w") as text:
            subprocess.run([f"{BIN}/nmt-prepare", "decode", "--vocab", VOCAB, f"{OUT}/{system}.ids"], stdout=text, check=True)
    texts[system] = open(f"{OUT}/{system}.txt", encoding="utf-8").read().split("\n")[:-1]
print("\n| system | seconds per round | median | BLEU cased / uncased | lines equal to nmt float32 |")
print("|---|---|---|---|---|")
for system in SYSTEMS:
    hypotheses = texts[system]
    cased = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="intl").score
    uncased = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="intl", lowercase=True).score
    same = sum(a == b for a, b in zip(hypotheses, texts["nmt"])) if "nmt" in texts else "-"
    rounds = ", ".join(f"{s:.2f}" for s in times[system])
    print(f"| {system} | {rounds} | {statistics.median(times[system]):.2f} | {cased:.2f} / {uncased:.2f} | {same} of {len(hypotheses)} |")
