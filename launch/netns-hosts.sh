#!/usr/bin/env bash
# Simulated hosts on one machine: Linux network namespaces on a private bridge, for running
# metaopt-dist across "hosts" over real TCP without a cluster (docs/design.md, "Distribution").
# Needs root and iproute2 (launch/setup.sh installs it).
#
#   bash launch/netns-hosts.sh up N [PREFIX] [SUBNET]    create N hosts
#   bash launch/netns-hosts.sh down [PREFIX]             remove everything `up` created
#   bash launch/netns-hosts.sh list [PREFIX]             print "NAME ADDRESS" per host
#   bash launch/netns-hosts.sh mpirun-args [PREFIX] [SUBNET]   print the mpirun options (one per line)
#
# PREFIX (default "mo") names everything: hosts PREFIX-h1 … PREFIX-hN (each a network namespace
# of that name, with an /etc/hosts entry where that file is writable), the bridge PREFIX-br and
# the veth pairs PREFIX-vI (bridge side) / eth0 (namespace side). SUBNET is the first three
# octets of a private /24 (default 10.99.0; each octet at most 255): the bridge gets .1 (so
# mpirun, in the main namespace, reaches the daemons), host I gets .(10+I). Nothing is routed or
# forwarded off the bridge: the traffic stays inside this machine's own namespaces. mpirun-args
# without SUBNET uses the subnet PREFIX's hosts were made on (read from its bridge, as `list`
# reads the addresses), and the default subnet, with a warning, when there are none.
#
# Running a job across the hosts (launch/netns-agent.sh starts Open MPI's daemons inside the
# namespaces in place of ssh; as root, which the namespaces need, mpirun wants
# --allow-run-as-root):
#
#   bash launch/netns-hosts.sh up 2
#   printf '%s slots=2\n' mo-h1 mo-h2 > /tmp/hosts
#   mpirun --allow-run-as-root --hostfile /tmp/hosts -np 4 $(bash launch/netns-hosts.sh mpirun-args) \
#       .build/release/metaopt-dist comm-check
#   bash launch/netns-hosts.sh down
#
# mpirun-args names launch/netns-agent.sh by its absolute path, which `$(…)` and MPIRUN_ARGS split
# at spaces: these examples, and the TCP parts of launch/comm-cost.sh and launch/scaling.sh, need
# a checkout whose path has no spaces.
#
# `up` refuses to run when the prefix or the subnet is already in use (a concurrent job, or
# leftovers of a killed one: `down PREFIX` removes those). `down` is idempotent and removes every
# PREFIX-h* namespace, the bridge, the veths and the /etc/hosts entries tagged with the prefix,
# whatever their number.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/help.sh" "$@"

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 64
}

hosts_file="${NETNS_HOSTS_FILE:-/etc/hosts}"
tag() { echo "# metaopt-netns:$1"; }

check_prefix() {
    # Interface names are at most 15 bytes: PREFIX-v + up to 3 digits, PREFIX-br.
    if [[ ! "$1" =~ ^[a-z][a-z0-9]{0,5}$ ]]; then
        echo "netns-hosts.sh: the prefix must be 1-6 lower-case letters or digits, starting with a letter (got '$1')" >&2
        exit 64
    fi
}

check_subnet() {
    if [[ ! "$1" =~ ^(10|192\.168|172\.(1[6-9]|2[[:digit:]]|3[01]))(\.[[:digit:]]{1,3}){1,2}$ || "$(tr -cd . <<< "$1" | wc -c)" -ne 2 ]]; then
        echo "netns-hosts.sh: SUBNET must be the first three octets of a private network, e.g. 10.99.0 (got '$1')" >&2
        exit 64
    fi
    local octet
    for octet in ${1//./ }; do
        if ((10#$octet > 255)); then
            echo "netns-hosts.sh: SUBNET's octets must be at most 255 (got '$1')" >&2
            exit 64
        fi
    done
}

require_tools() {
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "netns-hosts.sh: network namespaces need root" >&2
        exit 69
    fi
    if ! command -v ip >/dev/null 2>&1; then
        echo "netns-hosts.sh: the ip command is missing (install iproute2: bash launch/setup.sh)" >&2
        exit 69
    fi
}

namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$1-h[0-9]+$" || true; }

down() {
    local prefix="$1"
    local ns
    for ns in $(namespaces "$prefix"); do
        # Processes left inside (a killed job's daemons) would keep the namespace alive.
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns delete "$ns" 2>/dev/null || true
    done
    local link
    for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^$prefix-v[0-9]+$" || true); do
        ip link delete "$link" 2>/dev/null || true
    done
    ip link delete "$prefix-br" 2>/dev/null || true
    if [[ -f "$hosts_file" ]] && grep -qF "$(tag "$prefix")" "$hosts_file"; then
        # In place (not a rename): /etc/hosts is often a bind mount.
        local kept
        kept="$(grep -vF "$(tag "$prefix")" "$hosts_file")" || true
        printf '%s\n' "$kept" > "$hosts_file"
    fi
}

up() {
    local n="$1" prefix="$2" subnet="$3"
    if [[ ! "$n" =~ ^[123456789][[:digit:]]?$ ]] || ((n > 99)); then
        echo "netns-hosts.sh: N must be between 1 and 99 (got '$n')" >&2
        exit 64
    fi
    if ip link show "$prefix-br" >/dev/null 2>&1 || [[ -n "$(namespaces "$prefix")" ]]; then
        echo "netns-hosts.sh: hosts with prefix '$prefix' exist already (in use, or left over: 'netns-hosts.sh down $prefix' removes them)" >&2
        exit 1
    fi
    if [[ -n "$(ip -o -4 addr show to "$subnet.0/24" 2>/dev/null)" ]] || ip route show 2>/dev/null | grep -q "^$subnet\.0/24 "; then
        echo "netns-hosts.sh: the subnet $subnet.0/24 is already in use on this machine; pick another SUBNET" >&2
        exit 1
    fi
    # From here on, any failure removes what was made.
    trap 'down "$prefix"' ERR
    ip link add "$prefix-br" type bridge
    ip addr add "$subnet.1/24" dev "$prefix-br"
    ip link set "$prefix-br" up
    local i ns address entries=""
    for ((i = 1; i <= n; i++)); do
        ns="$prefix-h$i"
        address="$subnet.$((10 + i))"
        ip netns add "$ns"
        ip link add "$prefix-v$i" type veth peer name eth0 netns "$ns"
        ip link set "$prefix-v$i" master "$prefix-br" up
        ip -n "$ns" addr add "$address/24" dev eth0
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
        entries+="$address $ns $(tag "$prefix")"$'\n'
    done
    # Handy for other tools; Open MPI does not need them (netns-agent.sh maps names to namespaces).
    if ! printf '%s' "$entries" 2>/dev/null >> "$hosts_file"; then
        echo "netns-hosts.sh: warning: cannot add the host names to $hosts_file; continuing without" >&2
    fi
    # Check every host reaches the bridge address (no ping here: a TCP connect to a closed port
    # that is refused at once proves the path works).
    for ((i = 1; i <= n; i++)); do
        local reply
        reply="$(ip netns exec "$prefix-h$i" timeout 5 bash -c "exec 3<>/dev/tcp/$subnet.1/9" 2>&1)" || true
        if [[ -n "$reply" && "$reply" != *"refused"* ]]; then
            echo "netns-hosts.sh: host $prefix-h$i cannot reach the bridge at $subnet.1: $reply" >&2
            false
        fi
    done
    trap - ERR
    list "$prefix"
}

list() {
    local ns
    for ns in $(namespaces "$1" | sort -V); do
        echo "$ns $(ip -n "$ns" -o -4 addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)"
    done
}

# The first three octets of PREFIX's bridge address (the subnet `up` was given), or nothing.
bridge_subnet() {
    { ip -o -4 addr show dev "$1-br" 2>/dev/null || true; } | awk '{print $4}' \
        | sed -n 's|^\([0-9]*\.[0-9]*\.[0-9]*\)\.1/24$|\1|p' | head -n 1
}

mpirun_args() {
    local subnet="$2"
    local agent
    agent="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netns-agent.sh"
    # mpi_yield_when_idle: the "hosts" share this machine's cores, and the kernel forwards the
    # packets between namespaces in deferred work (ksoftirqd) that ranks spinning in Open MPI's
    # busy poll starve until the next scheduler tick: measured here, 8 ms per allreduce instead
    # of 40-65 µs. Ranks that yield leave the cores to it. (A real cluster needs no such option.)
    printf '%s\n' --mca plm_rsh_agent "$agent" --mca plm_rsh_no_tree_spawn 1 \
        --mca btl tcp,self --mca btl_tcp_if_include "$subnet.0/24" --mca oob_tcp_if_include "$subnet.0/24" \
        --mca mpi_yield_when_idle 1
}

[[ $# -ge 1 ]] || usage
command="$1"
shift
case "$command" in
    up)
        [[ $# -ge 1 && $# -le 3 ]] || usage
        prefix="${2:-mo}"; subnet="${3:-10.99.0}"
        check_prefix "$prefix"; check_subnet "$subnet"; require_tools
        up "$1" "$prefix" "$subnet"
        ;;
    down)
        [[ $# -le 1 ]] || usage
        prefix="${1:-mo}"
        check_prefix "$prefix"; require_tools
        down "$prefix"
        ;;
    list)
        [[ $# -le 1 ]] || usage
        prefix="${1:-mo}"
        check_prefix "$prefix"; require_tools
        list "$prefix"
        ;;
    mpirun-args)
        [[ $# -le 2 ]] || usage
        prefix="${1:-mo}"
        check_prefix "$prefix"
        if [[ $# -ge 2 ]]; then
            subnet="$2"
        else
            # The subnet PREFIX's hosts were made on: their bridge has its .1.
            subnet="$(bridge_subnet "$prefix")"
            if [[ -z "$subnet" ]]; then
                subnet=10.99.0
                echo "netns-hosts.sh: warning: no hosts with prefix '$prefix' (no bridge $prefix-br); printing the options for the default subnet $subnet" >&2
            fi
        fi
        check_subnet "$subnet"
        mpirun_args "$prefix" "$subnet"
        ;;
    *) usage ;;
esac
