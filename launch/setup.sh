#!/usr/bin/env bash
# Installs the system packages metaopt-dist needs and builds the release binary.
#
#   bash launch/setup.sh
#
# Packages (Debian/Ubuntu): Open MPI (openmpi-bin, libopenmpi-dev), OpenBLAS (libopenblas-dev),
# Fashion-MNIST (dataset-fashion-mnist, IDX files under /usr/share/datasets/fashion-mnist) and
# iproute2 (network namespaces for the multi-host tests). Missing ones are installed with apt-get
# when running as root; otherwise the script prints the sudo command to run and exits 1.
# Idempotent: with everything present it only runs an incremental `swift build -c release`.
# Set METAOPT_SETUP_NO_BUILD=1 to skip the build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(openmpi-bin libopenmpi-dev libopenblas-dev zlib1g-dev dataset-fashion-mnist iproute2)

if command -v dpkg-query >/dev/null 2>&1; then
    missing=()
    for package in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$package")
        fi
    done
    if ((${#missing[@]} > 0)); then
        if [[ "$(id -u)" -eq 0 ]]; then
            echo "launch/setup.sh: installing ${missing[*]}"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update
            apt-get install -y "${missing[@]}"
        else
            echo "launch/setup.sh: missing packages: ${missing[*]}" >&2
            echo "Install them with:" >&2
            echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
            exit 1
        fi
    fi
else
    # Not Debian: check for the tools instead and name what to install.
    for tool in mpirun pkg-config; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "launch/setup.sh: $tool not found; install Open MPI (with its pkg-config files) and OpenBLAS" >&2
            exit 1
        fi
    done
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "launch/setup.sh: swift not found; install a Swift 6 toolchain (https://www.swift.org/install/)" >&2
    exit 1
fi

if [[ "${METAOPT_SETUP_NO_BUILD:-0}" != "1" ]]; then
    swift build -c release
fi
