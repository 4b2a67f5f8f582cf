#!/usr/bin/env bash
# Installs the system packages metaopt-dist needs, builds the release binary with the Swift
# runtime linked into it, and installs it as PREFIX/bin/metaopt-dist (PREFIX: /usr/local unless
# set), so that `mpirun -np 8 metaopt-dist` works from any directory.
#
#   bash launch/setup.sh
#   PREFIX="$HOME/.local" bash launch/setup.sh      # without root: installs into ~/.local/bin
#
# Packages (Debian/Ubuntu): Open MPI (openmpi-bin, libopenmpi-dev), OpenBLAS (libopenblas-dev),
# zlib (zlib1g-dev), Fashion-MNIST (dataset-fashion-mnist, IDX files under
# /usr/share/datasets/fashion-mnist) and iproute2 (network namespaces for the multi-host tests).
# Missing ones are installed with apt-get when running as root; otherwise the script prints the
# sudo command to run and exits 1.
#
# The build is `swift build -c release --static-swift-stdlib` into .build/release: the Swift
# standard library, Foundation and Dispatch are linked statically, so the binary needs no Swift
# toolchain and can be copied to nodes that have none; it still loads Open MPI (libmpi.so.40),
# OpenBLAS, zlib and the C/C++ runtime (libc, libstdc++, libgcc_s) from the system. It is then
# installed (install -m 0755) as PREFIX/bin/metaopt-dist, the directory created if needed; if
# that directory cannot be written the script says so, naming PREFIX, and exits 1.
#
# Idempotent: with everything present it runs an incremental build and installs only a changed
# binary. Set METAOPT_SETUP_NO_BUILD=1 to skip the build and the installation (packages only; no
# Swift toolchain needed, e.g. on nodes that get the built binary copied).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/help.sh" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source launch/packages.sh

packages=(openmpi-bin libopenmpi-dev libopenblas-dev zlib1g-dev dataset-fashion-mnist iproute2)

if ! ensure_packages "${packages[@]}"; then
    # Not Debian: check for the tools instead and name what to install.
    for tool in mpirun pkg-config; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "launch/setup.sh: $tool not found; install Open MPI (with its pkg-config files) and OpenBLAS" >&2
            exit 1
        fi
    done
fi

# Packages only: no Swift needed (nodes without a toolchain that get the built binary copied).
if [[ "${METAOPT_SETUP_NO_BUILD:-0}" == "1" ]]; then
    exit 0
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "launch/setup.sh: swift not found; install a Swift 6 toolchain (https://www.swift.org/install/)" >&2
    exit 1
fi

build_args=(-c release)
if [[ "$(uname -s)" == "Linux" ]]; then
    # On macOS the Swift runtime is part of the system; on Linux it is linked in.
    build_args+=(--static-swift-stdlib)
fi
swift build "${build_args[@]}"
built="$(swift build "${build_args[@]}" --show-bin-path)/metaopt-dist"

prefix="${PREFIX:-/usr/local}"
bindir="$prefix/bin"
installed="$bindir/metaopt-dist"
if ! mkdir -p "$bindir" 2>/dev/null || [[ ! -w "$bindir" ]]; then
    echo "launch/setup.sh: cannot write to $bindir to install metaopt-dist." >&2
    echo "Run as root, or set PREFIX to a directory you can write, e.g." >&2
    echo "  PREFIX=\"\$HOME/.local\" bash launch/setup.sh     (then put \$HOME/.local/bin on your PATH)" >&2
    exit 1
fi
if cmp -s "$built" "$installed"; then
    echo "launch/setup.sh: $installed is up to date"
else
    install -m 0755 "$built" "$installed"
    echo "launch/setup.sh: installed $installed ($("$installed" --version))"
fi
if [[ "$(command -v metaopt-dist || true)" != "$installed" ]]; then
    echo "launch/setup.sh: note: 'metaopt-dist' on this PATH is '$(command -v metaopt-dist || echo nothing)'," \
         "not $installed; put $bindir first on the PATH" >&2
fi
