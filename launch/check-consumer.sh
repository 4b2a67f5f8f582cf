#!/usr/bin/env bash
# Checks that metaopt-dist works as a versioned SwiftPM dependency of another package.
#
#   bash launch/check-consumer.sh
#
# Copies this checkout's files (tracked, and untracked ones that are not ignored: what
# `git ls-files -co --exclude-standard` lists, so uncommitted edits are included) into a fresh git
# repository in a temporary directory, commits them and tags the commit with the version in
# VERSION. A throwaway consumer package then depends on that repository by URL and version
# (`.package(url: "file://...", from: VERSION)`), builds with `swift build -c release` and runs a few lines
# against the MetaOpt and MetaOptMPI libraries: meta-trains a learned optimizer on quadratics for
# 40 meta-steps through an MPICommunicator (one rank, without mpirun) and
# checks that it then minimises held-out quadratics (and that the untrained one does worse). This
# is what a user's package sees: SwiftPM refuses a versioned dependency whose targets use
# unsafeFlags, for instance. The consumer is the Examples/ package (its manifest and sources, the
# dependency by version instead of by path, that program added), and launch/check-examples.sh
# --bin-path then runs the Examples programs it built: one build of MetaOpt for both checks.
#
# Prints "check-consumer: PASS" and exits 0, or "check-consumer: FAIL (...)" and exits 1. The
# temporary directory (TMPDIR, default /tmp) is removed either way; SwiftPM's shared caches are not
# touched (the consumer uses caches of its own in that directory). Takes about three minutes on two
# cores: the consumer builds MetaOpt from scratch. (Release, because the vector kernels are slow
# unoptimised: a debug build runs the same lines in about 45 s instead of under one.)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/help.sh" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() {
    echo "check-consumer: FAIL ($*)" >&2
    exit 1
}

command -v swift >/dev/null 2>&1 || fail "swift not found; install a Swift 6 toolchain"
command -v git >/dev/null 2>&1 || fail "git not found"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || fail "$(pwd) is not a git checkout"
version="$(tr -d '[:space:]' < VERSION)"
[[ "$version" =~ ^[[:digit:]]+\.[[:digit:]]+\.[[:digit:]]+$ ]] || fail "VERSION holds '$version', not a semantic version"

work="$(mktemp -d "${TMPDIR:-/tmp}/metaopt-consumer.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The dependency: this checkout's files in a fresh repository, tagged. SwiftPM names a package
# after the last component of its URL, so the directory is called metaopt-dist.
dependency="$work/metaopt-dist"
mkdir -p "$dependency"
while IFS= read -r -d '' file; do
    # Tracked files deleted in the working tree are listed too; they are not part of it.
    if [[ -e "$file" || -L "$file" ]]; then
        cp -P --parents -- "$file" "$dependency/"
    fi
done < <(git ls-files -z -co --exclude-standard)
git_quiet() { git -C "$dependency" -c user.name=check-consumer -c user.email=check-consumer@localhost "$@"; }
git_quiet init -q
# -f: the copied files were chosen by this checkout's ignore rules; a global excludes file
# (core.excludesFile) must not drop any of them here.
git_quiet add -A -f
git_quiet commit -q -m "metaopt-dist $version (snapshot for check-consumer)"
git_quiet tag "$version"

consumer="$work/consumer"
# The Examples package is the consumer: its manifest and sources, with the dependency by URL and
# version instead of by path, and one program more (below).
mkdir -p "$consumer"
cp -R "$dependency/Examples/Package.swift" "$dependency/Examples/Sources" "$consumer/"
mkdir -p "$consumer/Sources/consumer"
cat >> "$consumer/Package.swift" <<EOF

// launch/check-consumer.sh: metaopt-dist by version, and a program of its own.
package.dependencies = [.package(url: "file://$dependency", from: "$version")]
package.targets.append(.executableTarget(name: "consumer", dependencies: [
    .product(name: "MetaOpt", package: "metaopt-dist"), .product(name: "MetaOptMPI", package: "metaopt-dist")]))
EOF
cat > "$consumer/Sources/consumer/main.swift" <<'EOF'
// Meta-trains a learned optimizer for a few steps through the public MetaOpt API and checks that
// it minimises quadratics it has not seen. Exits 1 if it does not.
import Foundation
import MetaOpt
import MetaOptMPI

let config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 32, unroll: 20, horizon: 100,
                            iterations: 40, learningRate: 3e-3, seed: 7)
// Through MPI, as one rank (a singleton: no mpirun needed), as a multi-rank program would.
let trainer = try MetaTrainer(config: config, communicator: MPICommunicator())
var metaLosses: [Double] = []
while !trainer.finished { metaLosses.append(try trainer.step().metaLoss) }
print("meta-losses:", metaLosses.map { String(format: "%.3g", $0) }.joined(separator: " "))

// Held-out quadratics (another seed); mean loss before and after 100 steps of each optimizer.
let tests: [any Optimizee] = (0..<16).map { QuadraticOptimizee(dimension: 10, key: RandomKey(seed: 1234, horizon: 0, task: $0)) }
func meanLoss(_ curves: [[Float]], at index: (([Float]) -> Float)) -> Double {
    curves.map { Double(index($0)) }.reduce(0, +) / Double(curves.count)
}
let untrainedPhi: [Float] = ParameterLayout(config.optimizer).initialParameters(key: RandomKey(seed: 7, horizon: 0, task: 0))
let untrained = try LearnedOptimizer(config: config.optimizer, phi: untrainedPhi).run(on: tests, steps: 100)
let trained = try LearnedOptimizer(config: config.optimizer, phi: trainer.state.phi).run(on: tests, steps: 100)
let start = meanLoss(trained) { $0[0] }
let trainedEnd = meanLoss(trained) { $0[100] }
let untrainedEnd = meanLoss(untrained) { $0[100] }
print(String(format: "held-out quadratics: loss %.4g at step 0, %.4g after 100 steps of the trained optimizer, %.4g of the untrained one",
             start, trainedEnd, untrainedEnd))

var problems: [String] = []
if !trainer.finished || metaLosses.count != 40 { problems.append("the trainer ran \(metaLosses.count) of 40 meta-steps") }
if !trainedEnd.isFinite || !(trainedEnd < start / 20) { problems.append("the trained optimizer did not reduce the loss 20-fold") }
if !(trainedEnd < untrainedEnd) { problems.append("the trained optimizer is no better than the untrained one") }
try MPIRuntime.finalize()
if problems.isEmpty {
    print("consumer: OK")
} else {
    print("consumer: WRONG: " + problems.joined(separator: "; "))
    exit(1)
}
EOF

# Caches inside $work: the user's shared SwiftPM caches get no entry for the throwaway repository.
# SwiftPM's lock files go to TMPDIR, so that is inside $work too.
swiftpm_args=(-c release --package-path "$consumer" --cache-path "$work/cache" --security-path "$work/security"
              --manifest-cache local)
mkdir -p "$work/tmp"
echo "check-consumer: building a consumer of metaopt-dist $version (file://$dependency)"
TMPDIR="$work/tmp" swift build "${swiftpm_args[@]}" \
    || fail "the consumer package did not build against metaopt-dist $version"
bin="$(TMPDIR="$work/tmp" swift build "${swiftpm_args[@]}" --show-bin-path)" || fail "swift build --show-bin-path failed"
"$bin/consumer" || fail "the consumer program failed"
bash launch/check-examples.sh --bin-path "$bin" || fail "the Examples programs built against metaopt-dist $version failed"
echo "check-consumer: PASS (a package depending on metaopt-dist from: \"$version\" builds and trains; so do the Examples programs)"
