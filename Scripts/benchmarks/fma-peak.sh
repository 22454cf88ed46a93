#!/usr/bin/env bash
# The CPU's float multiply-add peak, the ceiling every GFLOP/s figure of issue 26 is
# measured against: 12 independent chains of 16-lane (AVX-512) or 8-lane (AVX2) fused
# multiply-adds per core, no memory traffic, best of 5 runs; on one core, then on every
# core at once (one process per core, pinned).
#
#   Scripts/benchmarks/fma-peak.sh
#
# Needs clang (the Swift toolchain's). Prints GFLOP/s per core and in total.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/peak.c" <<'C'
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#ifdef __AVX512F__
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#endif

int main(void) {
    // 12 chains cover the multiply-add latency (4 cycles) times two pipes with room.
    vec acc[12];
    for (int i = 0; i < 12; i++) acc[i] = SET1(i * 0.001f);
    const vec a = SET1(0.999999f), b = SET1(1e-7f);
    const long iterations = 100000000;
    double best = 0;
    for (int run = 0; run < 5; run++) {
        const double start = now();
        for (long n = 0; n < iterations; n++) {
#pragma unroll
            for (int i = 0; i < 12; i++) acc[i] = FMA(acc[i], a, b);
        }
        const double rate = iterations * 12.0 * LANES * 2 / (now() - start) / 1e9;
        if (rate > best) best = rate;
    }
    float sink = 0;
    for (int i = 0; i < 12; i++) sink += ((float *)&acc[i])[0];
    printf("%.1f %d %g\n", best, LANES, sink);
    return 0;
}
C
flags="-O2 -mfma -mavx2"
grep -q avx512f /proc/cpuinfo && flags="$flags -mavx512f"
clang $flags "$dir/peak.c" -o "$dir/peak"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
read -r one lanes _ < <(taskset -c 0 "$dir/peak")
echo "one core: $one GFLOP/s ($lanes-lane multiply-adds)"
total=0
for core in $(seq 0 $(($(nproc) - 1))); do taskset -c "$core" "$dir/peak" >"$dir/core$core" & done
wait
for core in $(seq 0 $(($(nproc) - 1))); do
    read -r rate _ <"$dir/core$core"
    echo "core $core with every core busy: $rate GFLOP/s"
    total=$(python3 -c "print($total + $rate)")
done
echo "all cores: $total GFLOP/s"
