#!/usr/bin/env bash
# Runs metaopt-dist on the hosts of a hostfile.
#
#   bash launch/hostfile.sh FILE [-np N] [metaopt-dist arguments...]
#   bash launch/hostfile.sh localhost -np 2 comm-check
#   bash launch/hostfile.sh localhost train --iterations 100 --run-dir runs/hostfile-short
#   bash launch/hostfile.sh cluster -np 32 train       # illustrative: your hosts in hosts/cluster
#
# FILE: a path (relative to the directory you run the script from), or the name of a file in
# hosts/: hosts/localhost is this machine (2 slots); hosts/cluster.example is a template for
# several hosts, to copy to hosts/cluster and fill in (as it stands all its lines are comments:
# the script refuses a hostfile without a host line, with status 64).
# Without -np, mpirun starts one rank per slot of the hostfile. Every host must have the binary
# at the same path (a shared file system, or the same checkout built everywhere) and reach the
# others over the network; OPENBLAS_NUM_THREADS (default 1) is forwarded to every rank.
# METAOPT_BIN picks another binary, MPIRUN_ARGS adds mpirun options (for example
# "--mca btl tcp,self --mca btl_tcp_if_include 10.0.0.0/24 --mca plm_rsh_agent ssh"). As with
# launch/local.sh, the ranks run in the repository root: relative paths in the arguments are
# relative to it. A hostfile with Windows line endings or a UTF-8 byte order mark is refused
# (mpirun cannot read them), and so is a slot count that is not a whole number (slots=two) or
# written slot=N, each named by its line, a host name whose part before the first dot is longer
# than 56 characters (Open MPI 4.1 crashes on it), and a file whose every host has slots=0.
# More ranks than slots need MPIRUN_ARGS=--oversubscribe (launch/local.sh adds it itself; here
# the slots are the cluster's promise of cores). Open MPI shortens host names at the first dot
# unless told otherwise: where hosts must be reached by their full names, add
# MPIRUN_ARGS="--mca orte_keep_fqdn_hostnames 1" (Open MPI 4) or give addresses.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ $# -lt 1 ]]; then
    echo "usage: hostfile.sh FILE [-np N] [metaopt-dist arguments...]" >&2
    exit 64
fi
hostfile="$1"
shift
# A path from the directory the script was started in, else a file of hosts/.
if [[ "$hostfile" != /* && -f "$caller_dir/$hostfile" ]]; then
    hostfile="$caller_dir/$hostfile"
elif [[ ! -f "$hostfile" && -f "hosts/$hostfile" ]]; then
    hostfile="hosts/$hostfile"
fi
if [[ ! -f "$hostfile" ]]; then
    if [[ -d "$hostfile" ]]; then
        echo "hostfile.sh: '$hostfile' is a directory, not a hostfile" >&2
    elif [[ "$hostfile" == -* ]]; then
        echo "hostfile.sh: the hostfile comes first: hostfile.sh FILE [-np N] [metaopt-dist arguments...]" >&2
    elif [[ "$hostfile" == /* ]]; then
        echo "hostfile.sh: no hostfile '$hostfile'" >&2
    elif [[ -f "hosts/$hostfile.example" ]]; then
        echo "hostfile.sh: no hostfile '$hostfile' (nor hosts/$hostfile): copy hosts/$hostfile.example to hosts/$hostfile and list your hosts" >&2
    else
        echo "hostfile.sh: no hostfile '$hostfile' (nor hosts/$hostfile)" >&2
    fi
    exit 64
fi
# Without a host line (every line empty or a comment, as in hosts/cluster.example) mpirun would
# only say "No nodes are available for this job", without naming the file.
if ! sed 's/#.*//' "$hostfile" | grep -q '[^[:space:]]'; then
    echo "hostfile.sh: no hosts in '$hostfile' (every line is empty or a comment)" >&2
    exit 64
fi
# mpirun's parser stops at a carriage return with an internal error (a file saved on Windows).
if grep -q $'\r' "$hostfile"; then
    echo "hostfile.sh: '$hostfile' has Windows line endings (CRLF), which mpirun cannot read; convert it (sed -i 's/\r\$//' '$hostfile')" >&2
    exit 64
fi
# A UTF-8 byte order mark (some Windows editors write one) makes mpirun drop the first host with
# no more than a parse message, and run the job on the others.
if [[ "$(head -c 3 "$hostfile" | od -An -tx1 | tr -d ' \n')" == "efbbbf" ]]; then
    echo "hostfile.sh: '$hostfile' starts with a UTF-8 byte order mark, which mpirun cannot read (it would drop the first host); remove it (sed -i '1s/^\xEF\xBB\xBF//' '$hostfile')" >&2
    exit 64
fi
# Slot counts mpirun misreads: slots=two reads as -1 and ends in an "internal error", slot=2 (a
# rankfile's keyword) in a parse error, and slots=0 on every host leaves no host a rank can go to
# ("All nodes which are allocated for this job are already filled"); none of them names the file
# or line. (slots=0 on some of several hosts is left to mpirun, as is "slots= 2", which it reads
# as 2.)
line_number=0 hosts=0 empty_hosts=0
while IFS= read -r line || [[ -n "$line" ]]; do
    line_number=$((line_number + 1))
    read -r -a words <<< "${line%%#*}"
    [[ ${#words[@]} -gt 0 ]] || continue
    hosts=$((hosts + 1))
    # Open MPI 4.1 ends with "stack smashing detected" and nothing else on a host whose name
    # before its first dot (the part it keeps) has 57 characters or more (DNS allows 63).
    label="${words[0]%%.*}"
    if ((${#label} > 56)); then
        echo "hostfile.sh: '$hostfile' line $line_number: the host name's first part '${label:0:20}...' has ${#label} characters; Open MPI crashes on more than 56 (give the host's address or a shorter alias)" >&2
        exit 64
    fi
    empty=0
    for word in "${words[@]:1}"; do
        case "$word" in
            slots=?*|count=?*|cpu=?*|max_slots=?*|max-slots=?*|slots_max=?*|slots-max=?*|\
            max_cpu=?*|max-cpu=?*|cpu_max=?*|cpu-max=?*|max_count=?*|max-count=?*|count_max=?*|count-max=?*)
                if [[ ! "${word#*=}" =~ ^[[:digit:]]+$ ]]; then
                    echo "hostfile.sh: '$hostfile' line $line_number: '$word' must be a whole number of slots" >&2
                    exit 64
                elif [[ "${word#*=}" =~ ^0+$ ]]; then
                    empty=1
                fi
                ;;
            slot=*)
                echo "hostfile.sh: '$hostfile' line $line_number: '$word' is a rankfile's keyword; a hostfile says slots=${word#*=}" >&2
                exit 64
                ;;
        esac
    done
    empty_hosts=$((empty_hosts + empty))
done < "$hostfile"
if ((empty_hosts == hosts)); then
    echo "hostfile.sh: every host of '$hostfile' has 0 slots: no rank could start (give a host slots=N, N > 0)" >&2
    exit 64
fi

mpi_args=(--hostfile "$hostfile" "${mpi_env_args[@]}")
np=""
if [[ $# -ge 2 && ( "$1" == "-np" || "$1" == "-n" || "$1" == "--np" ) ]]; then
    if ! np="$(rank_count "$2")"; then
        echo "hostfile.sh: the number of ranks must be a positive integer, got '$2'" >&2
        exit 64
    fi
    mpi_args+=(-np "$np")
    shift 2
    if [[ $# -ge 1 && "$1" =~ ^(-np|-n|--np)(=.*)?$ ]]; then
        # A second -np would reach the binary, which every rank would refuse as an unknown option.
        echo "hostfile.sh: give the number of ranks once (got '$1' after -np ${mpi_args[-1]})" >&2
        exit 64
    fi
elif [[ $# -ge 1 && "$1" =~ ^(-np|-n|--np)(=.*)?$ ]]; then
    echo "hostfile.sh: give the number of ranks as '-np N' (got '$*')" >&2
    exit 64
fi

# The hostfile by its absolute path, which the resume line's command finds from anywhere.
relaunch_args=(launch/hostfile.sh "$([[ "$hostfile" == /* ]] && echo "$hostfile" || echo "$repo_root/$hostfile")")
if [[ -n "$np" ]]; then relaunch_args+=(-np "$np"); fi
export_relaunch "${relaunch_args[@]}"
mpi_args+=(-x METAOPT_RELAUNCH)
exec mpirun "${mpi_args[@]}" "${mpirun_extra_args[@]}" "$metaopt_bin" "$@"
