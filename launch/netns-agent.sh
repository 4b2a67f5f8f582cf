#!/bin/sh
# Open MPI's rsh launcher agent for the namespace hosts of launch/netns-hosts.sh, used in place
# of ssh: `mpirun --mca plm_rsh_agent launch/netns-agent.sh ...`.
#
#   netns-agent.sh HOST COMMAND...
#
# Runs COMMAND (Open MPI's daemon start line) with /bin/sh inside the network namespace named
# HOST, in a UTS namespace of its own whose host name is HOST, so MPI_Get_processor_name tells
# the hosts apart. HOST may also be an address of one of the namespaces.
set -eu
if [ $# -lt 2 ]; then
    echo "netns-agent.sh: usage: netns-agent.sh HOST COMMAND..." >&2
    exit 64
fi
host="$1"
shift
ns=""
if ip netns list | awk '{print $1}' | grep -qxF "$host"; then
    ns="$host"
else
    for candidate in $(ip netns list | awk '{print $1}'); do
        if ip -n "$candidate" -o -4 addr show 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | grep -qxF "$host"; then
            ns="$candidate"
            break
        fi
    done
fi
if [ -z "$ns" ]; then
    echo "netns-agent.sh: no network namespace for host '$host' (create it with launch/netns-hosts.sh up)" >&2
    exit 1
fi
exec ip netns exec "$ns" unshare --uts /bin/sh -c 'hostname "$0" && exec /bin/sh -c "$1"' "$host" "$*"
