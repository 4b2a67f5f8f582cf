#!/usr/bin/env bash
# Builds the Examples/ package (programs that use the MetaOpt library through its public API,
# depending on this checkout by path) and runs them with short settings:
#
#   bash launch/check-examples.sh                  build Examples/ (release) and run its programs
#   bash launch/check-examples.sh --bin-path DIR   run the programs built in DIR instead, without
#                                                  building (launch/check-consumer.sh builds them
#                                                  against a tagged copy of this checkout, by
#                                                  version, and passes its DIR; launch/test.sh
#                                                  runs them that way, so that the two checks
#                                                  build MetaOpt once)
#
# 1. train-own-optimizee meta-trains on the package's own optimizee family (logistic regression)
#    and writes an optimizer file; it fails if the result is no better than the untrained optimizer.
# 2. learned-vs-adam steps a logistic regression's named tensors with that file next to Adam,
#    then with a shipped optimizer (optimizers/mlp-p5.json), then with its fallback (an optimizer
#    it meta-trains itself on logistic regressions); it fails if the learned optimizer does not
#    lower the loss.
# 3. learned-vs-adam with a bad option and with a missing file: statuses 64 and 1 with a message;
#    both programs with METAOPT_KERNELS=bogus: status 1 and the library's message (no trap); both
#    programs' --help: their usage and status 0; train-own-optimizee with a directory as
#    --output, and with a new directory's "NEW/.": status 64 with a message before training (it
#    used to train, then fail to write).
#
# Prints "check-examples: PASS" and exits 0, or "check-examples: FAIL (...)" and exits 1. Release
# build in Examples/.build (ignored by git); the optimizer file goes to a temporary directory
# (TMPDIR, default /tmp) that is removed. A few minutes on two cores for the first build, then a
# few seconds (the runs alone: about one and a half).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/help.sh" "$@"

fail() {
    echo "check-examples: FAIL ($*)" >&2
    exit 1
}

bin=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bin-path)
            [[ $# -ge 2 && -d "$2" ]] || fail "--bin-path needs a directory that exists (got '${2:-}')"
            bin="$(cd "$2" && pwd)"  # absolute: the script runs from the checkout
            shift 2
            ;;
        *) fail "unknown argument '$1'; see bash launch/check-examples.sh --help" ;;
    esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
programs=(learned-vs-adam train-own-optimizee)

export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
work="$(mktemp -d "${TMPDIR:-/tmp}/metaopt-examples.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [[ -z "$bin" ]]; then
    args=(-c release --package-path Examples)
    echo "check-examples: building Examples/"
    swift build "${args[@]}" || fail "the Examples package did not build"
    bin="$(swift build "${args[@]}" --show-bin-path)" || fail "swift build --show-bin-path failed"
else
    echo "check-examples: the programs built in $bin"
fi
for program in "${programs[@]}"; do
    [[ -x "$bin/$program" ]] || fail "$bin/$program is not an executable; build the Examples package first"
done
# One of the example programs, built in $bin.
example() {
    local program="$1"
    shift
    "$bin/$program" "$@"
}
echo "check-examples: train-own-optimizee"
example train-own-optimizee --meta-steps 60 --output "$work/logistic-optimizer.json" \
    || fail "train-own-optimizee failed"
echo "check-examples: learned-vs-adam with that optimizer"
example learned-vs-adam --optimizer "$work/logistic-optimizer.json" \
    || fail "learned-vs-adam --optimizer failed"
echo "check-examples: learned-vs-adam with the shipped optimizers/mlp-p5.json"
example learned-vs-adam --optimizer optimizers/mlp-p5.json \
    || fail "learned-vs-adam --optimizer optimizers/mlp-p5.json failed"
echo "check-examples: learned-vs-adam with its fallback optimizer"
example learned-vs-adam || fail "learned-vs-adam (fallback) failed"
echo "check-examples: bad input ends with a message, not a trap"
status=0
example learned-vs-adam --steps -1 2> "$work/err" || status=$?
[ "$status" = 64 ] && grep -q -- "--steps takes a positive number" "$work/err" || fail "learned-vs-adam --steps -1: status $status"
status=0
example learned-vs-adam --optimizer "$work/missing.json" 2> "$work/err" || status=$?
[ "$status" = 1 ] && grep -q "missing.json cannot be read" "$work/err" || fail "learned-vs-adam with a missing file: status $status"
# An error the library throws (a kernel path that does not exist) is its message and status 1, not
# a trap with a stack dump.
refuses_bogus_kernels() {
    local status=0
    METAOPT_KERNELS=bogus example "$@" > /dev/null 2> "$work/err" || status=$?
    [ "$status" = 1 ] && grep -q "METAOPT_KERNELS=bogus is not a kernel path" "$work/err" && ! grep -q "Fatal error" "$work/err" \
        || fail "$1 with METAOPT_KERNELS=bogus: status $status, $(head -c 200 "$work/err")"
}
refuses_bogus_kernels learned-vs-adam --optimizer optimizers/mlp-p5.json
refuses_bogus_kernels train-own-optimizee --output "$work/bogus.json"
for program in "${programs[@]}"; do
    status=0
    example "$program" --help > "$work/out" 2> "$work/err" || status=$?
    [ "$status" = 0 ] && grep -q "^usage: $program" "$work/out" && grep -q -- "-h, --help" "$work/out" \
        || fail "$program --help: status $status, $(head -c 200 "$work/err")"
done
status=0
example train-own-optimizee --output "$work" > "$work/out" 2> "$work/err" || status=$?
[ "$status" = 64 ] && grep -q "is a directory" "$work/err" && ! grep -q "mean loss" "$work/out" \
    || fail "train-own-optimizee --output DIRECTORY: status $status, not refused before training"
# A directory that does not exist yet, named by a last "." (it was refused only after training).
status=0
example train-own-optimizee --output "$work/new/." > "$work/out" 2> "$work/err" || status=$?
[ "$status" = 64 ] && grep -q 'ends in "."' "$work/err" && ! grep -q "mean loss" "$work/out" \
    || fail "train-own-optimizee --output NEW/.: status $status, not refused before training"
echo "check-examples: PASS"
