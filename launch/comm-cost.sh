#!/usr/bin/env bash
# Communication costs of sharded meta-training (docs/scaling.md, "Communication"): the
# meta-step's allreduces and the sharded step's allgather over a sweep of sizes, with the
# latency/bandwidth fit `allreduce-bench` prints, on 2 ranks of this host (shared memory) and on
# 2 network-namespace hosts × 1 rank over TCP (launch/netns-hosts.sh; needs root and iproute2).
#
#   bash launch/comm-cost.sh [OUT_FILE]        default OUT_FILE: runs/comm-cost.txt
#
# OUT_FILE: a relative path is from the directory you start the script in (the default is in the
# repository root). The namespace hosts are removed at the end; when hosts with PREFIX exist
# already (another job's, or leftovers: `bash launch/netns-hosts.sh down PREFIX` removes them),
# the script stops with status 1 before the TCP part and leaves them alone.
# Environment: PREFIX and SUBNET of the namespace hosts (default "cc" and 10.97.0, chosen apart
# from the tests' and launch/scaling.sh's), NETNS=0 to skip the TCP part (which needs a checkout
# path without spaces: see launch/netns-hosts.sh), REPS (200).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/help.sh" "$@"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ $# -gt 1 || ( $# -eq 1 && -z "$1" ) ]]; then
    echo "usage: comm-cost.sh [OUT_FILE]" >&2
    exit 64
fi
# common.sh has changed to the repository root: a relative OUT_FILE is from the caller's directory.
out="${1:-runs/comm-cost.txt}"
if [[ $# -eq 1 && "$out" != /* ]]; then out="$caller_dir/${out#./}"; fi
prefix="${PREFIX:-cc}"
subnet="${SUBNET:-10.97.0}"
reps="${REPS:-200}"
if ! is_positive_int "$reps"; then
    echo "comm-cost.sh: REPS must be a positive integer (got '$reps')" >&2
    exit 64
fi
mkdir -p "$(dirname "$out")"
sizes=(--count 1 --count 64 --count 640 --count 5143 --count 16384 --count 65536 --count 262144 --count 524288
       --gather-count 256 --gather-count 4096 --gather-count 65536 --gather-count 262144 --gather-count 1048576
       --repetitions "$reps")
{
    echo "# metaopt-dist allreduce-bench, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
    echo "# shared memory: bash launch/local.sh -np 2 allreduce-bench ${sizes[*]}"
    quiet_stderr bash launch/local.sh -np 2 allreduce-bench "${sizes[@]}"
} > "$out"

if [[ "${NETNS:-1}" != "0" ]]; then
    # An `up` refused because hosts with this prefix exist already (another job's) ends the
    # script here: only hosts this run made are removed, so the trap comes after a successful up.
    bash launch/netns-hosts.sh up 2 "$prefix" "$subnet" >&2
    trap 'bash launch/netns-hosts.sh down "$prefix" >/dev/null 2>&1 || true' EXIT
    mapfile -t netargs < <(bash launch/netns-hosts.sh mpirun-args "$prefix" "$subnet")
    hostfile="$(mktemp)"
    printf '%s slots=1\n' "$prefix-h1" "$prefix-h2" > "$hostfile"
    {
        echo "# TCP, 2 network-namespace hosts x 1 rank (a software bridge inside this machine):"
        echo "# MPIRUN_ARGS=\"--hostfile HOSTS \$(bash launch/netns-hosts.sh mpirun-args $prefix $subnet)\" bash launch/local.sh -np 2 allreduce-bench ${sizes[*]}"
        MPIRUN_ARGS="--hostfile $hostfile ${netargs[*]}" quiet_stderr bash launch/local.sh -np 2 allreduce-bench "${sizes[@]}" \
            | sed 's/^/TCP /'
    } >> "$out"
    rm -f "$hostfile"
fi
echo "# load average $(cut -d' ' -f1-3 /proc/loadavg) at the end" >> "$out"
cat "$out"
