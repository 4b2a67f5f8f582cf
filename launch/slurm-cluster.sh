#!/usr/bin/env bash
# A real two-node Slurm cluster on this machine, for the tests of launch/slurm.sbatch: slurmctld
# on the host, one slurmd in each of two network namespaces (nodes sn1 and sn2), on a private
# bridge, authenticated by a munged of its own. Needs root, iproute2 and util-linux (nsenter,
# unshare); installs slurm-wlm and munge through launch/packages.sh when they are missing.
#
#   bash launch/slurm-cluster.sh up [NAME] [SUBNET]   start the cluster (stopping any cluster NAME first)
#   bash launch/slurm-cluster.sh down [NAME]          stop and remove everything `up NAME` made
#   bash launch/slurm-cluster.sh env [NAME]           print the clients' settings as shell lines (below)
#
# NAME (default "msl", 1-6 lower-case letters or digits) names the namespaces NAME-n1 and NAME-n2,
# the bridge NAME-br, the veths NAME-v1/NAME-v2 and the state folder ${TMPDIR:-/tmp}/metaopt-slurm-NAME
# (slurm.conf, munge key and socket, spool and state directories, logs, pid files; slurm.conf
# holds its path, so `up` refuses, with status 64, a TMPDIR that is not absolute or has a space,
# #, % or comma in it). SUBNET (default 10.96.0; launch/netns-hosts.sh and its tests use 10.99.*,
# launch/scaling.sh 10.98.*) is the first three octets of a private /24 (each octet at most 255):
# the bridge and slurmctld get .1, sn1 .2, sn2 .3. Each slurmd also runs in a UTS namespace whose
# host name is its node name, so `hostname` and MPI_Get_processor_name on a node say sn1 or sn2.
# Both nodes declare CPUs=1 and share this machine's file system, so a job's output file and run
# directory are seen by both.
#
# `env` (and `up`, on success) prints `export SLURM_CONF=...` (clients, sbatch and scontrol among
# them, read the cluster's slurm.conf from there) and `export METAOPT_MPIRUN_ARGS='...'` (the
# mpirun options launch/slurm.sbatch needs here: TCP on SUBNET only, no core binding since both
# "nodes" are the same two cores), quoted for the shell, so that
#
#   eval "$(bash launch/slurm-cluster.sh env NAME)"
#
# sets both in the current shell. slurmctld listens on the first free port from 6817 on; nothing
# is written outside the state folder (not /etc/slurm, not /etc/munge) and nothing is routed off
# the bridge.
#
# `up` waits (at most 60 s) until `sinfo` shows both nodes idle, and on any failure removes what
# it made. A cluster of the same NAME that is still running is stopped first, its jobs with it
# (`up` says so on stderr): leftovers of a killed test look no different. `down` is idempotent: it
# ends every process left in the namespaces (job steps, Open MPI daemons, ranks), the daemons by
# their pid files, and removes the namespaces, links and state.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/help.sh" "$@"

usage() {
    sed -n '7,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 64
}

check_name() {
    # Interface names are at most 15 bytes: NAME-br, NAME-v1.
    if [[ ! "$1" =~ ^[a-z][a-z0-9]{0,5}$ ]]; then
        echo "slurm-cluster.sh: NAME must be 1-6 lower-case letters or digits, starting with a letter (got '$1')" >&2
        exit 64
    fi
}

check_subnet() {
    if [[ ! "$1" =~ ^(10|192\.168|172\.(1[6-9]|2[[:digit:]]|3[01]))(\.[[:digit:]]{1,3}){1,2}$ || "$(tr -cd . <<< "$1" | wc -c)" -ne 2 ]]; then
        echo "slurm-cluster.sh: SUBNET must be the first three octets of a private network, e.g. 10.96.0 (got '$1')" >&2
        exit 64
    fi
    local octet
    for octet in ${1//./ }; do
        if ((10#$octet > 255)); then
            echo "slurm-cluster.sh: SUBNET's octets must be at most 255 (got '$1')" >&2
            exit 64
        fi
    done
}

# The state folder's path goes into slurm.conf, which ends a value at a space, reads # as a
# comment and % as a node-name placeholder (and munge's AuthInfo ends at a comma): refused up front
# rather than with a parse error from slurmctld after the daemons have started.
check_state_path() {
    local state
    state="$(state_dir "$1")"
    if [[ "$state" != /* || ! "$state" =~ ^[A-Za-z0-9._/+@:-]+$ ]]; then
        echo "slurm-cluster.sh: the state folder '$state' must be an absolute path of letters, digits and . _ / + @ : - only (slurm.conf cannot hold spaces, #, % or commas in it); set TMPDIR to such a folder" >&2
        exit 64
    fi
}

require_root() {
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "slurm-cluster.sh: the cluster needs root (network namespaces, daemons)" >&2
        exit 69
    fi
    local tool
    for tool in ip nsenter unshare; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "slurm-cluster.sh: the $tool command is missing (iproute2, util-linux)" >&2
            exit 69
        fi
    done
}

state_dir() { echo "${TMPDIR:-/tmp}/metaopt-slurm-$1"; }

any_alive() {
    local pid
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done
    return 1
}

# Sends TERM to the daemons named by the pid files, all at once (munged takes about 2 s to end),
# waits up to 5 s for them, then KILL; removes the files. A pid counts only while its command line
# names the state folder STATE (the pid of a daemon long gone may belong to another process now).
stop_pidfiles() {
    local state="$1" file pid pids=() i
    shift
    for file in "$@"; do
        [[ -f "$file" ]] || continue
        pid="$(cat "$file" 2>/dev/null || true)"
        if [[ "$pid" =~ ^[[:digit:]]+$ ]] && tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF "$state/" \
            && kill -TERM "$pid" 2>/dev/null; then
            pids+=("$pid")
        fi
        rm -f "$file"
    done
    for ((i = 0; i < 50; i++)); do
        any_alive "${pids[@]}" || break
        sleep 0.1
    done
    if ((${#pids[@]} > 0)); then kill -KILL "${pids[@]}" 2>/dev/null || true; fi
}

down() {
    local name="$1" state i
    state="$(state_dir "$name")"
    # Job processes first (slurmstepd, mpirun and its daemons, ranks): they live in the nodes'
    # network namespaces, and would keep a namespace alive.
    for i in 1 2; do
        if ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$name-n$i"; then
            ip netns pids "$name-n$i" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        fi
    done
    # Daemons by their pid files (slurmd's are gone with their namespaces already).
    stop_pidfiles "$state" "$state/slurmd-sn1.pid" "$state/slurmd-sn2.pid" "$state/slurmctld.pid" "$state/munged.pid"
    for i in 1 2; do
        ip netns delete "$name-n$i" 2>/dev/null || true
        ip link delete "$name-v$i" 2>/dev/null || true
    done
    ip link delete "$name-br" 2>/dev/null || true
    rm -rf "$state"
}

# Runs a daemon with no file descriptor of ours: only /dev/null as stdin, stdout and stderr.
# munged keeps what it inherits, and a daemon holding its starter's descriptors (a test
# harness's pipe or the socket by which it notices the script's exit) keeps that waiting.
detached() {
    (
        local fd
        for fd in /proc/$BASHPID/fd/*; do
            fd="${fd##*/}"
            if ((fd > 2)); then eval "exec $fd>&-"; fi
        done
        exec "$@" </dev/null >/dev/null 2>&1
    )
}

free_port() {
    local port
    for ((port = 6817; port < 6917; port++)); do
        if ! ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then
            echo "$port"
            return 0
        fi
    done
    echo "slurm-cluster.sh: no free port for slurmctld in 6817-6916" >&2
    return 1
}

write_conf() {
    local state="$1" subnet="$2" port="$3" host
    host="$(hostname -s)"
    # cred_expire also sets how long a requeued job waits before it may start again (default
    # 120 s); 5 s keeps the requeue test short. KillWait: seconds between SIGTERM and SIGKILL
    # at a job's end (default 30). SchedulerType builtin: no backfill pass to wait for;
    # sched_interval: the main scheduling loop, which starts a requeued job once its begin time
    # has come, runs every second (default 60).
    cat > "$state/slurm.conf" <<EOF
ClusterName=metaopt
SlurmctldHost=$host($subnet.1)
SlurmctldPort=$port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge/munge.socket,cred_expire=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
ReturnToService=2
JobRequeue=1
KillWait=5
SlurmUser=root
SlurmdUser=root
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd-%n.pid
SlurmdSpoolDir=$state/spool/slurmd-%n
StateSaveLocation=$state/spool/slurmctld
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd-%n.log
NodeName=sn1 NodeAddr=$subnet.2 NodeHostname=sn1 CPUs=1 State=UNKNOWN
NodeName=sn2 NodeAddr=$subnet.3 NodeHostname=sn2 CPUs=1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
}

up() {
    local name="$1" subnet="$2" state port i
    state="$(state_dir "$name")"
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    # shellcheck source=launch/packages.sh
    source "$here/packages.sh"
    # apt-get's output to stderr: stdout carries only the export lines.
    ensure_packages slurm-wlm munge >&2 || true
    for i in slurmctld slurmd sinfo munged mungekey; do
        if ! command -v "$i" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$i" ]]; then
            echo "slurm-cluster.sh: $i is missing (Debian: apt-get install slurm-wlm munge)" >&2
            exit 69
        fi
    done
    export PATH="$PATH:/usr/sbin:/sbin"

    # Whatever an earlier `up NAME` left (a killed test) goes first.
    local pid
    pid="$(cat "$state/slurmctld.pid" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[[:digit:]]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        echo "slurm-cluster.sh: the cluster '$name' is running; stopping it (and its jobs) first" >&2
    fi
    down "$name"
    if [[ -n "$(ip -o -4 addr show to "$subnet.0/24" 2>/dev/null)" ]] || ip route show 2>/dev/null | grep -q "^$subnet\.0/24 "; then
        echo "slurm-cluster.sh: the subnet $subnet.0/24 is already in use on this machine; pick another SUBNET" >&2
        exit 1
    fi
    trap 'status=$?; echo "slurm-cluster.sh: up failed; logs:" >&2; tail -n 20 "$state"/log/*.log >&2 2>/dev/null || true; down "$name"; exit $status' ERR

    mkdir -p "$state/munge" "$state/spool" "$state/log"
    chmod 700 "$state/munge"
    port="$(free_port)"
    write_conf "$state" "$subnet" "$port"

    # munge: a key of its own and a daemon on a socket of its own (AuthInfo=socket=...). munged
    # refuses to run as root without --force.
    mungekey --create --keyfile="$state/munge/munge.key" --force
    detached munged --force --socket="$state/munge/munge.socket" --key-file="$state/munge/munge.key" \
        --pid-file="$state/munged.pid" --log-file="$state/log/munged.log" --seed-file="$state/munge/munged.seed"

    # The network: a bridge on the host, one namespace per node.
    ip link add "$name-br" type bridge
    ip addr add "$subnet.1/24" dev "$name-br"
    ip link set "$name-br" up
    for i in 1 2; do
        ip netns add "$name-n$i"
        ip link add "$name-v$i" type veth peer name eth0 netns "$name-n$i"
        ip link set "$name-v$i" master "$name-br" up
        ip -n "$name-n$i" addr add "$subnet.$((i + 1))/24" dev eth0
        ip -n "$name-n$i" link set lo up
        ip -n "$name-n$i" link set eth0 up
    done

    export SLURM_CONF="$state/slurm.conf"
    detached slurmctld -f "$SLURM_CONF"
    # nsenter --net keeps /sys (`ip netns exec` remounts it, hiding /sys/fs/cgroup, and slurmd
    # then fails to start); unshare --uts gives the node its own host name.
    for i in 1 2; do
        detached nsenter --net="/var/run/netns/$name-n$i" unshare --uts \
            sh -c "hostname sn$i && exec slurmd -f '$SLURM_CONF' -N sn$i"
    done

    local waited idle=""
    for ((waited = 0; waited < 600; waited++)); do
        idle="$(sinfo -h -N -o '%N %t' 2>/dev/null | awk '$2 == "idle" {print $1}' | sort -u | tr '\n' ' ')"
        [[ "$idle" == "sn1 sn2 " ]] && break
        sleep 0.1
    done
    if [[ "$idle" != "sn1 sn2 " ]]; then
        echo "slurm-cluster.sh: the nodes did not become idle within 60 s:" >&2
        sinfo -N >&2 || true
        false
    fi
    trap - ERR
    env_lines "$name" "$subnet"
}

env_lines() {
    local name="$1" subnet="${2:-}"
    local state
    state="$(state_dir "$name")"
    if [[ ! -f "$state/slurm.conf" ]]; then
        echo "slurm-cluster.sh: no cluster named '$name' (run 'slurm-cluster.sh up $name')" >&2
        exit 1
    fi
    if [[ -z "$subnet" ]]; then
        subnet="$(sed -n 's/^NodeName=sn1 NodeAddr=\([0-9.]*\)\.2 .*/\1/p' "$state/slurm.conf")"
    fi
    # check_state_path keeps quotes out of the path.
    echo "export SLURM_CONF='$state/slurm.conf'"
    echo "export METAOPT_MPIRUN_ARGS='--mca btl tcp,self --mca btl_tcp_if_include $subnet.0/24 --mca oob_tcp_if_include $subnet.0/24 --bind-to none'"
}

[[ $# -ge 1 ]] || usage
command="$1"
shift
case "$command" in
    up)
        [[ $# -le 2 ]] || usage
        name="${1:-msl}"; subnet="${2:-10.96.0}"
        check_name "$name"; check_subnet "$subnet"; check_state_path "$name"; require_root
        up "$name" "$subnet"
        ;;
    down)
        [[ $# -le 1 ]] || usage
        name="${1:-msl}"
        check_name "$name"; require_root
        down "$name"
        ;;
    env)
        [[ $# -le 1 ]] || usage
        name="${1:-msl}"
        check_name "$name"
        env_lines "$name"
        ;;
    *) usage ;;
esac
