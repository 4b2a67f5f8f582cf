#!/usr/bin/env bash
# Times this build's kernel paths against the single-instruction-set builds of a commit from
# before run-time kernel selection, in alternating fresh processes on one core.
#
#   bash launch/bench-paths.sh                      # baseline ace8710, 5 rounds, core 0
#   ROUNDS=3 CORE=1 BASELINE=ace8710 bash launch/bench-paths.sh
#
# Builds the baseline twice in a git worktree under .build-baseline/ (its default build, for
# AVX-512, and METAOPT_ISA=avx2, for x86-64-v3) and this checkout's release binary, then runs
# `metaopt-dist bench --task all` (quadratics with the reference's settings, quadratics with the
# project defaults, the Fashion-MNIST MLP) for each variant in turn, ROUNDS times:
#   baseline-avx512  baseline default build          new-avx512    this build, METAOPT_KERNELS=avx512
#   baseline-avx2    baseline METAOPT_ISA=avx2 build  new-avx2      this build, METAOPT_KERNELS=avx2
#                                                     new-portable  this build, METAOPT_KERNELS=portable
# Variants this CPU cannot run are left out. Prints, per workload and variant, the median over
# rounds of bench's medians (ms per meta-iteration; ms per 100-step forward-only run) and the
# ratio of each new path to its baseline. Raw JSON goes to OUT (default .build-baseline/results).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/help.sh" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds="${ROUNDS:-5}"
core="${CORE:-0}"
baseline="${BASELINE:-ace8710}"
out="${OUT:-.build-baseline/results}"
export OPENBLAS_NUM_THREADS=1

worktree=".build-baseline/$baseline"
if [[ ! -d "$worktree" ]]; then
    git worktree add --detach "$worktree" "$baseline" >/dev/null
fi
echo "bench-paths.sh: building the baseline ($baseline) and this checkout" >&2
(cd "$worktree" && swift build -c release --scratch-path .build-avx512 >/dev/null)
(cd "$worktree" && METAOPT_ISA=avx2 swift build -c release --scratch-path .build-avx2 >/dev/null)
swift build -c release >/dev/null
new=.build/release/metaopt-dist

variants=()
commands=()
add() {  # name, then the command; kept when the binary runs on this CPU
    local name="$1"; shift
    if env "$@" --version >/dev/null 2>&1; then
        variants+=("$name")
        commands+=("$*")
    else
        echo "bench-paths.sh: $name does not run on this CPU; left out" >&2
    fi
}
add baseline-avx512 "$worktree/.build-avx512/release/metaopt-dist"
add new-avx512 METAOPT_KERNELS=avx512 "$new"
add baseline-avx2 "$worktree/.build-avx2/release/metaopt-dist"
add new-avx2 METAOPT_KERNELS=avx2 "$new"
add new-portable METAOPT_KERNELS=portable "$new"

pin=()
if command -v taskset >/dev/null 2>&1; then pin=(taskset -c "$core"); fi
mkdir -p "$out"
rm -f "$out"/*.json
for ((round = 1; round <= rounds; round++)); do
    for i in "${!variants[@]}"; do
        echo "bench-paths.sh: round $round/$rounds ${variants[$i]}" >&2
        read -r -a cmd <<< "${commands[$i]}"
        "${pin[@]}" env "${cmd[@]}" bench --task all --gemm-repetitions 0 --format json \
            > "$out/${variants[$i]}-$round.json" < /dev/null
    done
done

python3 - "$out" "${variants[@]}" <<'PY'
import json, statistics, sys, glob, os
out, variants = sys.argv[1], sys.argv[2:]
table = {}
for v in variants:
    for path in sorted(glob.glob(os.path.join(out, f"{v}-*.json"))):
        for r in json.load(open(path))["results"]:
            key = r["workload"]
            table.setdefault(key, {}).setdefault(v, {"train": [], "cpu": [], "eval": [], "evalcpu": []})
            table[key][v]["train"].append(r["metaIterationMedian"] * 1e3)
            table[key][v]["cpu"].append(r["metaIterationCPUMedian"] * 1e3)
            if r.get("evaluationMedian") is not None:
                table[key][v]["eval"].append(r["evaluationMedian"] * 1e3)
            if r.get("evaluationCPUMedian") is not None:  # not in the baseline's bench
                table[key][v]["evalcpu"].append(r["evaluationCPUMedian"] * 1e3)
pairs = {"new-avx512": "baseline-avx512", "new-avx2": "baseline-avx2"}
for workload, rows in table.items():
    print(f"\n{workload}")
    print("| variant | meta-iteration: wall / thread CPU (ms) | forward-only 100 steps: wall / CPU (ms) | time relative to the baseline build: meta-iteration wall / CPU, forward-only wall | rounds |")
    print("|---|---:|---:|---:|---:|")
    def median(xs): return statistics.median(xs) if xs else float("nan")
    med = {v: (median(d["train"]), median(d["cpu"]), median(d["eval"]), median(d["evalcpu"]), len(d["train"]))
           for v, d in rows.items()}
    for v in variants:
        if v not in med: continue
        t, c, e, ec, n = med[v]
        ratio = ""
        if v in pairs and pairs[v] in med:
            bt, bc, be, _, _ = med[pairs[v]]
            ratio = f"{t / bt:.3f} / {c / bc:.3f}, {e / be:.3f}"
        ecpu = "n/a" if ec != ec else f"{ec:.2f}"
        print(f"| {v} | {t:.2f} / {c:.2f} | {e:.2f} / {ecpu} | {ratio} | {n} |")
PY
