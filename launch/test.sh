#!/usr/bin/env bash
# Builds everything (library, executable, tests) and runs the whole test suite, multi-rank
# tests included (they start mpirun themselves). Exits non-zero on any failure.
#
#   bash launch/test.sh [swift test arguments...]     e.g. --filter MultiRankTests
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
if [[ "$(id -u)" -eq 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

swift build --build-tests
swift test "$@"
