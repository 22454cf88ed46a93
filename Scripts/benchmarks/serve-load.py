#!/usr/bin/env python3
"""Load test of nmt-serve on loopback, bounded in time (Python standard library only).

Starts `nmt-serve` on a free port with a trained model, then for each concurrency level
runs that many clients, each sending `POST /translate` with one sentence (cycling through
a text file) and waiting for the answer, for a fixed time; prints requests/s, sentences/s
and the p50/p99 latency per level, and stops the server with SIGTERM.

  Scripts/benchmarks/serve-load.py [--model-dir work/ding/model] [--vocab work/ding/data/ding.vocab]
                        [--sentences work/ding/text/test.en] [--levels 1,8,64] [--seconds 20]
                        [--texts-per-request 1]
"""
import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request


def cpu_model():
    try:
        return next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "?"


def run_level(url, sentences, clients, seconds, per_request):
    latencies, lock, errors = [], threading.Lock(), []
    deadline = time.monotonic() + seconds

    def client(k):
        i = k
        while time.monotonic() < deadline:
            texts = [sentences[(i + j) % len(sentences)] for j in range(per_request)]
            i += clients * per_request
            body = json.dumps({"texts": texts}).encode()
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            start = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=300) as response:
                    response.read()
                with lock:
                    latencies.append(time.monotonic() - start)
            except Exception as error:  # a 503 or a refused connection counts as an error
                with lock:
                    errors.append(str(error))

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")
    return {
        "clients": clients, "requests": len(latencies), "errors": len(errors), "seconds": round(elapsed, 1),
        "requests_per_second": round(len(latencies) / elapsed, 2),
        "sentences_per_second": round(len(latencies) * per_request / elapsed, 2),
        "p50_ms": round(pick(0.5) * 1000), "p99_ms": round(pick(0.99) * 1000),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default="work/ding/model")
    parser.add_argument("--vocab", default="work/ding/data/ding.vocab")
    parser.add_argument("--sentences", default="work/ding/text/test.en")
    parser.add_argument("--levels", default="1,8,64")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--binary", default=".build/release/nmt-serve")
    args = parser.parse_args()
    sentences = [l.strip() for l in open(args.sentences, encoding="utf-8") if l.strip()]
    server = subprocess.Popen(
        [args.binary, "--model-dir", args.model_dir, "--vocab", args.vocab, "--port", "0"],
        stdout=subprocess.PIPE, text=True)
    try:
        port = None
        for line in server.stdout:
            if "listening on" in line:
                port = int(line.rsplit(":", 1)[1])
                break
        if port is None:
            sys.exit("nmt-serve did not start")
        url = f"http://127.0.0.1:{port}/translate"
        run_level(url, sentences, 2, 2, 1)  # warm-up: first-touch buffers and pages
        results = [run_level(url, sentences, int(c), args.seconds, args.texts_per_request) for c in args.levels.split(",")]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    print(json.dumps({"cpu": cpu_model(), "date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "results": results}))
    print(f"\nCPU: {cpu_model()}, date: {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
          f"{args.texts_per_request} sentence(s) per request, {args.seconds:.0f} s per level, loopback\n")
    print("| clients | requests/s | sentences/s | p50 latency | p99 latency | errors |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['clients']} | {r['requests_per_second']} | {r['sentences_per_second']} | {r['p50_ms']} ms | "
              f"{r['p99_ms']} ms | {r['errors']} |")


if __name__ == "__main__":
    main()
