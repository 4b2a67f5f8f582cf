# Shared by launch/local.sh and launch/hostfile.sh (sourced, not run).
# Sets: caller_dir, repo_root, metaopt_bin, mpi_env_args; exports the environment mpirun needs.

# The directory the script was started from: relative paths the user gave (METAOPT_BIN, a
# hostfile) name files from there, not from the repository root this file changes to.
caller_dir="$PWD"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

# The binary every rank runs; METAOPT_BIN overrides it (e.g. .build/debug/metaopt-dist): a path
# with a slash (relative: from the caller's directory), or a bare name looked up on the PATH as
# the shell would (METAOPT_BIN=metaopt-dist, the binary launch/setup.sh installs).
metaopt_bin="${METAOPT_BIN:-$repo_root/.build/release/metaopt-dist}"
if [[ "$metaopt_bin" != /* && "$metaopt_bin" == */* ]]; then
    metaopt_bin="$caller_dir/${metaopt_bin#./}"
elif [[ "$metaopt_bin" != */* ]]; then
    # From the caller's directory, as the shell would look it up (a PATH with "." in it).
    if ! metaopt_bin="$(cd "$caller_dir" && type -P -- "$METAOPT_BIN")"; then
        echo "$(basename "$0"): $METAOPT_BIN not found on the PATH (METAOPT_BIN)" >&2
        exit 1
    fi
    if [[ "$metaopt_bin" != /* ]]; then metaopt_bin="$caller_dir/$metaopt_bin"; fi
fi
if [[ -e "$metaopt_bin" && ( -d "$metaopt_bin" || ! -x "$metaopt_bin" ) ]]; then
    # -x alone accepts a directory, which mpirun then fails to start on every rank.
    echo "$(basename "$0"): $metaopt_bin is not an executable file (METAOPT_BIN)" >&2
    exit 1
elif [[ ! -e "$metaopt_bin" && -n "${METAOPT_BIN:-}" ]]; then
    echo "$(basename "$0"): $metaopt_bin not found (METAOPT_BIN)" >&2
    exit 1
elif [[ ! -e "$metaopt_bin" ]]; then
    echo "$(basename "$0"): $metaopt_bin not found; run 'bash launch/setup.sh' first (or set METAOPT_BIN)" >&2
    exit 1
fi
# Resolved, for the launch scripts this one's callers run from the repository root (scaling.sh
# runs local.sh): a relative METAOPT_BIN would be looked up from there.
if [[ -n "${METAOPT_BIN:-}" ]]; then export METAOPT_BIN="$metaopt_bin"; fi

if ! command -v mpirun >/dev/null 2>&1; then
    echo "$(basename "$0"): mpirun not found; run 'bash launch/setup.sh' first" >&2
    exit 1
fi

# One BLAS thread per rank: ranks are the parallelism.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
# Forwarded to every rank, remote hosts included (METAOPT_KERNELS, which forces a kernel path,
# and the switches that change which kernels compute φ, METAOPT_FORWARD_PRODUCTS,
# METAOPT_MATRIX_PRODUCTS and OPENBLAS_CORETYPE, only when set: unset, every node picks the
# fastest its own CPU has; a remote node got none of them before).
# METAOPT_LAUNCH_DIR: where the script was started, so that the paths train prints at the end
# are ones the user can use there (they are relative to the repository root otherwise).
export METAOPT_LAUNCH_DIR="$caller_dir"
mpi_env_args=(-x OPENBLAS_NUM_THREADS -x METAOPT_LAUNCH_DIR)
kernel_switches=(METAOPT_KERNELS METAOPT_FORWARD_PRODUCTS METAOPT_MATRIX_PRODUCTS OPENBLAS_CORETYPE)
for name in "${kernel_switches[@]}"; do
    if [[ -n "${!name:-}" ]]; then mpi_env_args+=(-x "$name"); fi
done
# Under launch/restart.sh: the attempt number and the file train creates once it has started over.
for name in METAOPT_RESTART_COUNT METAOPT_STARTED_OVER_FILE; do
    if [[ -n "${!name:-}" ]]; then mpi_env_args+=(-x "$name"); fi
done

# Open MPI refuses to run as root unless told it is intended (containers, CI).
if [[ "$(id -u)" -eq 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# Extra mpirun options, e.g. MPIRUN_ARGS="--report-bindings --mca btl tcp,self".
read -r -a mpirun_extra_args <<< "${MPIRUN_ARGS:-}"

# Exports METAOPT_RELAUNCH, the command that starts this launch again from the repository root
# (train prints it after a stop: "resume with: bash launch/local.sh -np 4 train --config ..."):
# the settings read from the environment that the command needs, then bash, the script's path
# from the root and the arguments given. The callers forward it to the ranks (-x).
export_relaunch() {
    local words=() name word
    for name in METAOPT_BIN MPIRUN_ARGS "${kernel_switches[@]}"; do
        if [[ -n "${!name:-}" ]]; then words+=("$name=$(printf '%q' "${!name}")"); fi
    done
    words+=(bash)
    for word in "$@"; do words+=("$(printf '%q' "$word")"); done
    export METAOPT_RELAUNCH="${words[*]}"
}

# This machine's physical cores, which Open MPI counts as its slots, not the hardware threads
# (`mpirun -np $(nproc)` fails with "not enough slots" where each core runs two threads): the
# distinct thread-sibling sets of the online CPUs, at most nproc (the CPUs this process may use);
# nproc where sysfs shows no topology.
physical_cores() {
    local threads cores
    threads="$(nproc)"
    cores="$(cat /sys/devices/system/cpu/cpu[0-9]*/topology/thread_siblings_list 2>/dev/null | sort -u | wc -l)"
    if ((cores < 1 || cores > threads)); then cores="$threads"; fi
    echo "$cores"
}

is_positive_int() { [[ "$1" =~ ^[123456789][[:digit:]]*$ ]]; }
# A number of ranks as written: decimal, leading zeros allowed (02 is 2, as launch/restart.sh
# reads its counts). Prints it without them; fails unless it is a positive integer.
rank_count() { [[ "$1" =~ ^0*([123456789][[:digit:]]*)$ ]] && echo "${BASH_REMATCH[1]}"; }

# Runs a command with its standard error (every rank's start-up lines) set aside, and shows it,
# with the command and its status, only when the command fails: scripts that print only figures
# still say why they stop.
quiet_stderr() {
    local log
    log="$(mktemp)"
    "$@" 2>"$log" && { rm -f "$log"; return 0; }
    local status=$?
    echo "$(basename "$0"): failed with status $status: $*" >&2
    tail -n 20 "$log" >&2
    rm -f "$log"
    return "$status"
}

# Removes the run directories of OUT_DIR/runs that a measurement script made (their names match
# SERIES_REGEX, an extended regular expression of the series' names, each followed by .npN.rK),
# and refuses with 64 an OUT_DIR/runs that holds anything else: another run is not the script's
# to remove. Usage: remove_own_runs SCRIPT_NAME OUT_DIR SERIES_REGEX
remove_own_runs() {
    local script="$1" out="$2" series="$3" entry
    local own=() others=()
    shopt -s nullglob dotglob
    for entry in "$out/runs"/*; do
        if [[ "${entry##*/}" =~ ^($series)\.np[[:digit:]]+\.r[[:digit:]]+$ ]]; then
            own+=("$entry")
        else
            others+=("${entry##*/}")
        fi
    done
    shopt -u nullglob dotglob
    if ((${#others[@]} > 0)); then
        echo "$script: $out/runs holds more than this script's runs (${others[*]:0:3}); pick another OUT_DIR or move them away" >&2
        exit 64
    fi
    if ((${#own[@]} > 0)); then rm -rf -- "${own[@]}"; fi
}
