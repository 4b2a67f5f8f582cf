#!/usr/bin/env bash
# Runs metaopt-dist with N ranks on this host.
#
#   bash launch/local.sh [-np N] [metaopt-dist arguments...]
#   bash launch/local.sh -np 8 train --iterations 100 --run-dir runs/local-short
#   NP=4 bash launch/local.sh comm-check
#
# N: from -np N (or -n N), else $NP, else the number of physical cores (decimal: 02 is 2; hardware
# threads do not count, as Open MPI counts slots). With more ranks than cores mpirun gets
# --oversubscribe --bind-to none. Every rank runs with OPENBLAS_NUM_THREADS=1.
# The binary is .build/release/metaopt-dist (build it with launch/setup.sh); METAOPT_BIN picks
# another (a relative path is from the directory you start the script in; a bare name such as
# metaopt-dist is looked up on the PATH). MPIRUN_ARGS adds mpirun options. The script runs from
# the repository root, so relative paths in the arguments are relative to it; train's last lines
# name its files so that the commands they print run where the script was started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

np="${NP:-}"
if [[ $# -ge 2 && ( "$1" == "-np" || "$1" == "-n" || "$1" == "--np" ) ]]; then
    np="$2"
    shift 2
    if [[ $# -ge 1 && "$1" =~ ^(-np|-n|--np)(=.*)?$ ]]; then
        # A second -np would reach the binary, which every rank would refuse as an unknown option.
        echo "local.sh: give the number of ranks once (got '$1' after -np $np)" >&2
        exit 64
    fi
elif [[ $# -ge 1 && "$1" =~ ^(-np|-n|--np)(=.*)?$ ]]; then
    # -np=2, or -np with nothing after it: not for the binary, which would answer "Unknown option".
    echo "local.sh: give the number of ranks as '-np N' (got '$*')" >&2
    exit 64
fi
cores="$(physical_cores)"
np="${np:-$cores}"
if ! np_value="$(rank_count "$np")"; then
    echo "local.sh: the number of ranks must be a positive integer, got '$np'" >&2
    exit 64
fi
np="$np_value"

export_relaunch launch/local.sh -np "$np"
mpi_args=(-np "$np" "${mpi_env_args[@]}" -x METAOPT_RELAUNCH)
if ((np > cores)); then
    mpi_args+=(--oversubscribe --bind-to none)
fi

exec mpirun "${mpi_args[@]}" "${mpirun_extra_args[@]}" "$metaopt_bin" "$@"
