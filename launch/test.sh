#!/usr/bin/env bash
# Builds everything (library, executable, tests) and runs the whole test suite, multi-rank
# tests included (they start mpirun themselves). Exits non-zero on any failure.
#
#   bash launch/test.sh                                 the whole suite and the checks below
#   bash launch/test.sh [swift test arguments...]       e.g. --filter MultiRankTests: only those
#
# Tests build in release mode (the vector kernels are slow unoptimised) into their own scratch
# path, .build-tests, so they leave the static release binary that launch/setup.sh built in
# .build and installed on the PATH alone; the portability tests run that installed binary (under
# qemu-x86_64 emulating a CPU without AVX-512, through ldd, under mpirun from another directory).
# Installs the test-only packages qemu-user (x86_64) and locales if missing, as launch/setup.sh
# does its own; SlurmClusterTests install slurm-wlm and munge themselves (launch/slurm-cluster.sh,
# as root).
# With no arguments, after the suite it also runs the kernel tests again on every other kernel
# path the CPU can run (METAOPT_KERNELS=avx2 and =portable), launch/check-consumer.sh (a package
# that depends on metaopt-dist by version builds and runs, and so do the Examples/ programs built
# in it: launch/check-examples.sh runs them) and launch/test-python.sh (the Python package's tests
# in a virtual environment, against golden files the Swift tests check).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/help.sh" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source launch/packages.sh

if [[ "$(uname -m)" == "x86_64" ]]; then
    # qemu-x86_64 for PortabilityTests; without dpkg (not Debian) they skip, or fail under CI.
    ensure_packages qemu-user || true
fi
# The locale sources LaunchScriptTests makes other locales from (localedef).
ensure_packages locales || true

export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
if [[ "$(id -u)" -eq 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# `swift test` builds first, with testable imports (`swift build -c release --build-tests` would
# build without them, and @testable import would fail).
scratch=(-c release --scratch-path .build-tests)
swift test "${scratch[@]}" "$@"

if [[ $# -eq 0 ]]; then
    # The suite ran the CPU's best kernel path; the meta-gradient and rank-count tests run again on
    # every other path it can run (a path the CPU lacks makes --version exit 64).
    binary=.build-tests/release/metaopt-dist
    best="$("$binary" --version | sed -n 's/.*kernels \([a-z0-9]*\).*/\1/p')"
    for path in avx2 portable; do
        [[ "$path" == "$best" ]] && continue
        if ! METAOPT_KERNELS="$path" "$binary" --version >/dev/null 2>&1; then
            echo "launch/test.sh: this CPU cannot run the $path kernels; their second pass is skipped"
            continue
        fi
        echo "launch/test.sh: the kernel tests again with METAOPT_KERNELS=$path"
        METAOPT_KERNELS="$path" swift test "${scratch[@]}" --filter 'MetaGradientTests|DistributedTrainingTests'
    done
    bash launch/check-consumer.sh  # runs launch/check-examples.sh on the Examples programs it builds
    bash launch/test-python.sh
fi
