#!/usr/bin/env bash
# Open MPI's remote-shell agent for Scripts/distributed/two-hosts.sh: where mpirun would `ssh HOST
# COMMAND`, this runs COMMAND inside the network namespace that plays HOST, with its own
# host name. Options mpirun passes for ssh (-x and the like) are skipped.
set -euo pipefail
while [[ "${1:-}" == -* ]]; do shift; done
host=$1; shift
namespace=$(awk -v host="$host" '$1 == host { print $2 }' "${NMT_NETNS_HOSTS:?set by Scripts/distributed/two-hosts.sh}")
[ -n "$namespace" ] || { echo "netns-rsh: no namespace plays host $host" >&2; exit 255; }
exec ip netns exec "$namespace" unshare --uts sh -c "hostname $namespace; $*"
