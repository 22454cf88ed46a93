#!/usr/bin/env bash
# Installs the system packages swift-nmt builds against, if any are missing:
#   libopenblas-dev  the CBLAS interface (registered as Debian's libblas provider) on OpenBLAS
#   liblapacke-dev   LAPACKE (QR for the orthogonal initializer)
#   libopenmpi-dev   Open MPI's C library and headers (NMTDistributed; pkg-config ompi-c)
#   openmpi-bin      mpirun, which starts data-parallel training (and the parity test)
#   libsentencepiece-dev  SentencePiece, the C++ library (NMTData's SentencePiece tokenizer)
#   sentencepiece    spm_encode, the yardstick of the tokenizer's throughput
#   trans-de-en      with --corpus: the Ding dictionary, the main job's corpus (GPL-2+)
# Swift itself (6.x) must already be on PATH.
set -euo pipefail

packages=(libopenblas-dev liblapacke-dev libopenmpi-dev openmpi-bin libsentencepiece-dev sentencepiece)
if [ "${1:-}" = "--corpus" ]; then packages+=(trans-de-en); fi

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if ! command -v swift >/dev/null 2>&1; then
    echo "install-deps: 'swift' is not on PATH; install Swift 6.x from swift.org first." >&2
    exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: apt-get not found. Install the equivalents of: ${missing[*]}" >&2
    echo "  (a CBLAS library linkable as -lblas, LAPACKE linkable as -llapacke, and Open MPI with pkg-config ompi-c)" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "install-deps: not root and no sudo. As root, run: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
else
    SUDO=
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
