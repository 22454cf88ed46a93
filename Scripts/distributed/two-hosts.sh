#!/usr/bin/env bash
# Two hosts on one machine: makes two network namespaces joined by a veth pair
# (10.213.0.1 and 10.213.0.2, nothing else reachable), runs a 2-host data-parallel
# training job across them with a hostfile, the way one runs it across real hosts, and
# checks that it trains what 1 process trains (final loss within 1e-5 relative). MPI
# traffic goes over TCP on the veth pair (--mca btl tcp,self: no shared memory between
# the "hosts"); Open MPI reaches the second host through Scripts/distributed/netns-rsh.sh instead of
# ssh. Removes the namespaces when it ends. Needs root (ip netns).
#
#   Scripts/distributed/two-hosts.sh [BIN]     (BIN: a folder with nmt-train, nmt-train-distributed and nmt-prepare; default:
#                                   a release build of them)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
if [ -n "${1:-}" ]; then bin=$(cd "$1" && pwd); else
    for product in nmt-train nmt-train-distributed nmt-prepare; do swift build -c release --product $product >/dev/null 2>&1 || { echo "building $product failed" >&2; exit 1; }; done
    bin=$root/.build/release
fi
[ "$(id -u)" -eq 0 ] || { echo "two-hosts: needs root for ip netns" >&2; exit 1; }
work=$(mktemp -d /tmp/nmt-two-hosts.XXXXXX)
cleanup() {
    ip netns del nmt-host-a 2>/dev/null || true
    ip netns del nmt-host-b 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cleanup; mkdir -p "$work"

echo "== two hosts: nmt-host-a (10.213.0.1) and nmt-host-b (10.213.0.2), joined by a veth pair"
ip netns add nmt-host-a
ip netns add nmt-host-b
ip link add nmt-veth-a netns nmt-host-a type veth peer name nmt-veth-b netns nmt-host-b
ip -n nmt-host-a addr add 10.213.0.1/24 dev nmt-veth-a
ip -n nmt-host-b addr add 10.213.0.2/24 dev nmt-veth-b
for side in a b; do
    ip -n nmt-host-$side link set lo up
    ip -n nmt-host-$side link set nmt-veth-$side up
done
ip -n nmt-host-a route get 10.213.0.2 | grep -q "dev nmt-veth-a" || { echo "two-hosts: no route over the veth pair" >&2; exit 1; }
printf '10.213.0.1 nmt-host-a\n10.213.0.2 nmt-host-b\n' > "$work/hosts"
printf '10.213.0.1 slots=1\n10.213.0.2 slots=1\n' > "$work/hostfile"

# The test fixture's Ding pairs and a small model (Scripts/experiments/small-run.sh).
Scripts/experiments/small-run.sh "$bin" "$work"
args() {
    echo --config "$work/model.json" --data-dir "$work/data" --model-dir "$1" --vocab "$work/data/small.vocab" \
        --train-steps 6 --steps-between-evals 6 --batch-size 600 --max-length 40 --warmup-steps 10
}

echo "== 1 process"
"$bin/nmt-train" $(args "$work/one") > "$work/one.log" 2>&1
echo "== 2 hosts × 1 process (mpirun --hostfile, TCP over the veth pair)"
status=0
NMT_NETNS_HOSTS=$work/hosts ip netns exec nmt-host-a unshare --uts sh -c "hostname nmt-host-a; exec mpirun \
    --allow-run-as-root --hostfile $work/hostfile -np 2 \
    --mca plm_rsh_agent $root/Scripts/distributed/netns-rsh.sh -x NMT_NETNS_HOSTS \
    --mca btl tcp,self --mca btl_tcp_if_include 10.213.0.0/24 --mca oob_tcp_if_include 10.213.0.0/24 \
    $bin/nmt-train-distributed $(args "$work/two")" > "$work/two.log" 2>&1 || status=$?
if [ $status -ne 0 ]; then echo "two-hosts: the 2-host job failed ($status):"; tail -20 "$work/two.log"; exit 1; fi
loss() { sed -n 's/.*final loss \([-0-9.e]*\).*/\1/p' "$1" | tail -1; }
grep -o "rank [01] of 2 processes.*" "$work/two.log" | sort -u
grep -q "rank 1 of 2 processes on nmt-host-b" "$work/two.log" || { echo "two-hosts: FAILED: rank 1 did not run on nmt-host-b"; exit 1; }
grep -o "[0-9]* steps in .*" "$work/two.log"
one=$(loss "$work/one.log"); two=$(loss "$work/two.log")
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) <= 1e-5 * max(1, abs(b)) else 1)" "$two" "$one" \
    || { echo "two-hosts: FAILED: final loss on 2 hosts $two, on 1 process $one"; exit 1; }
echo "final loss: 1 process $one, 2 hosts $two"
bytes() { ip -n nmt-host-a -s -j link show nmt-veth-a | python3 -c "import json, sys; s = json.load(sys.stdin)[0]['stats64']; print(s['tx']['bytes'] + s['rx']['bytes'])"; }
echo "the veth pair carried $(bytes) bytes"
[ "$(bytes)" -gt 1000000 ] || { echo "two-hosts: FAILED: under 1 MB crossed the veth pair"; exit 1; }
echo "two-hosts: passed"
