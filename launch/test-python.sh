#!/usr/bin/env bash
# The Python package's tests (python/): creates a virtual environment in .venv-python (ignored
# by git, kept between runs), installs the test dependencies with pip at pinned versions, installs
# ./python into it and runs pytest on python/tests. The golden files the tests compare with are
# written by Tests/MetaOptTests/PythonGoldenTests.swift.
#
#   bash launch/test-python.sh [pytest arguments...]
#
# A CPU build of PyTorch (about 190 MB) is the largest download; jax, jaxlib and optax come from
# the package index. Installs python3-venv (Debian) when the venv module is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source launch/packages.sh

python=${PYTHON:-python3}
venv=.venv-python
if [[ ! -x "$venv/bin/python" ]]; then
    if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' >/dev/null 2>&1; then
        ensure_packages python3-venv || true
    fi
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet numpy==2.4.6 pytest==9.2.0 "torch==2.13.0+cpu" jax==0.10.2 jaxlib==0.10.2 optax==0.2.8
"${pip[@]}" install --quiet --no-deps --force-reinstall ./python
# From inside python/tests, so the tests import the installed package, not the source folder.
cd python/tests
exec "../../$venv/bin/python" -m pytest -q "$@"
