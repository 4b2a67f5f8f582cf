#!/usr/bin/env bash
# Times metaopt-dist and the JAX reference (../shared/peer/l2l_jax.py) side by side on one core,
# alternating fresh processes, and prints ms per meta-iteration and the ratios.
#
#   bash launch/bench-peer.sh                 # 5 rounds of quad and mlp on core 0
#   ROUNDS=3 CORE=1 TASKS=mlp bash launch/bench-peer.sh
#
# Environment:
#   P       the reference's directory (default: ../shared/peer next to the repository)
#   V       its virtual environment (default: ~/.cache/metaopt-peer-venv; made by $P/setup.sh "$V")
#   CORE    the core both are pinned to (default 0); ROUNDS (default 5); TASKS (default "quad mlp")
#   REPS    meta-iterations timed per process (default 10, the reference's default)
#   TCMALLOC  the tcmalloc library preloaded for JAX (default libtcmalloc_minimal.so.4; empty: none)
#   METAOPT_BIN  the binary (default .build/release/metaopt-dist; build with swift build -c release)
#   METAOPT_KERNELS  passed on to metaopt-dist (avx2 forces the AVX2 path on an AVX-512 machine).
#           avx2 stands for a CPU without AVX-512 on both sides: OpenBLAS gets its Haswell kernels
#           (OPENBLAS_CORETYPE=Haswell unless set; it picks its own kernels per CPU, not per path)
#           and XLA at most AVX2 (--xla_cpu_max_isa=AVX2, unless XLA_ISA is set)
#   XLA_ISA the reference's --xla_cpu_max_isa (default: none, or AVX2 with METAOPT_KERNELS=avx2)
#   CLOCK   wall (default) or cpu: cpu compares CPU times, steadier on a shared core (JAX's
#           timer is then the process's CPU time, metaopt-dist's its thread CPU time)
#   OUT     directory for the raw results (default: a new temporary directory)
# One round runs, per task, one JAX process and one metaopt-dist process (order alternating per
# round); each reports the median of REPS meta-iterations after warm-up. The summary gives the
# median over rounds, then each program's fastest single run over all rounds (a shared core slows
# the two by different factors from round to round; the fastest runs estimate an undisturbed one).
# Both run single-threaded (XLA without multi-threaded Eigen and one intra-op thread; OpenBLAS with
# one thread). The machines are shared: rerun any difference under 15%.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/help.sh" "$@"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
P="${P:-$root/../shared/peer}"
V="${V:-$HOME/.cache/metaopt-peer-venv}"
CORE="${CORE:-0}"
ROUNDS="${ROUNDS:-5}"
TASKS="${TASKS:-quad mlp}"
REPS="${REPS:-10}"
CLOCK="${CLOCK:-wall}"
[[ "$CLOCK" == wall || "$CLOCK" == cpu ]] || { echo "bench-peer: CLOCK is wall or cpu" >&2; exit 1; }
TCMALLOC="${TCMALLOC-/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4}"
BIN="${METAOPT_BIN:-$root/.build/release/metaopt-dist}"
# The checks come before the results directory is made: a failed one leaves nothing behind.
[[ -x "$BIN" ]] || { echo "bench-peer: no $BIN (swift build -c release)" >&2; exit 1; }
[[ -f "$P/l2l_jax.py" ]] || { echo "bench-peer: no reference at $P (set P)" >&2; exit 1; }
[[ -x "$V/bin/python" ]] || { echo "bench-peer: no venv at $V (run $P/setup.sh \"$V\")" >&2; exit 1; }
if [[ -n "${OUT:-}" ]]; then
    mkdir -p "$OUT"
else
    OUT="$(mktemp -d -t bench-peer.XXXXXX)"
    # A run that ends before any result is written (a process that failed leaves its result
    # file empty) removes the directory it made; one with results keeps them.
    trap 'find "$OUT" -maxdepth 1 -type f -empty -delete 2>/dev/null; rmdir "$OUT" 2>/dev/null || true' EXIT
fi
XLA_FLAGS_BASE="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
if [[ "${METAOPT_KERNELS:-}" == avx2 ]]; then
    export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
    XLA_ISA="${XLA_ISA-AVX2}"
fi
[[ -n "${XLA_ISA:-}" ]] && XLA_FLAGS_BASE+=" --xla_cpu_max_isa=$XLA_ISA"
echo "bench-peer: METAOPT_KERNELS=${METAOPT_KERNELS:-(best)} OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(its choice)}" \
     "XLA_FLAGS=\"$XLA_FLAGS_BASE\"" >&2

run_jax() {  # task round
    local preload=()
    [[ -n "$TCMALLOC" ]] && preload=(env LD_PRELOAD="$TCMALLOC")
    # CLOCK=cpu: the reference times with time.perf_counter; this runs it with that clock
    # replaced by the process's CPU time (all its threads).
    local clock='import runpy, sys, time
if sys.argv[1] == "cpu": time.perf_counter = time.process_time
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")'
    "${preload[@]}" XLA_FLAGS="$XLA_FLAGS_BASE" \
        taskset -c "$CORE" "$V/bin/python" -c "$clock" "$CLOCK" "$P/l2l_jax.py" bench --task "$1" --reps "$REPS" \
        | grep '^RESULT ' | sed 's/^RESULT //' > "$OUT/jax-$1-$2.json"
}

run_swift() {  # task round
    local name="$1"
    [[ "$1" == quad ]] && name=quadratic
    OPENBLAS_NUM_THREADS=1 taskset -c "$CORE" "$BIN" bench --task "$name" --repetitions "$REPS" \
        --gemm-repetitions 0 --format json > "$OUT/swift-$1-$2.json"
}

for round in $(seq 1 "$ROUNDS"); do
    for task in $TASKS; do
        if (( round % 2 )); then run_jax "$task" "$round"; run_swift "$task" "$round"
        else run_swift "$task" "$round"; run_jax "$task" "$round"; fi
        echo "round $round/$ROUNDS: $task done" >&2
    done
done

python3 - "$OUT" "$CLOCK" $TASKS <<'EOF'
import json, statistics, sys, glob, os
out, clock, tasks = sys.argv[1], sys.argv[2], sys.argv[3:]
ours = ("metaIterationCPUMedian", "evaluationCPUMedian") if clock == "cpu" else ("metaIterationMedian", "evaluationMedian")
# Each of our timed runs (JAX's are in meta_iter_s and eval100_s), for the fastest-run table.
our_runs = ("metaIterationCPUSeconds", "evaluationCPUSeconds") if clock == "cpu" else ("metaIterationSeconds", "evaluationSeconds")
print(f"results in {out}; {clock} time")
reports = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, "swift-*.json")))]
print("metaopt-dist kernels: " + ", ".join(sorted({r["kernels"] + " path, OpenBLAS " + r.get("blasCore", "?") + ", layer products on " + r.get("layerProducts", "?") for r in reports})))
print(f"{'task':6} {'JAX ms':>9} {'Swift ms':>9} {'ratio':>6} {'JAX eval100':>11} {'Swift eval100':>13} {'ratio':>6} {'JAX RSS MB':>10} {'Swift RSS MB':>12}  (medians over rounds)")
fastest = {}
for task in tasks:
    jax = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, f"jax-{task}-*.json")))]
    sw = [json.load(open(f))["results"][0] for f in sorted(glob.glob(os.path.join(out, f"swift-{task}-*.json")))]
    j = statistics.median(statistics.median(r["meta_iter_s"]) for r in jax) * 1e3
    s = statistics.median(r[ours[0]] for r in sw) * 1e3
    je = statistics.median(statistics.median(r["eval100_s"]) for r in jax) * 1e3
    se = statistics.median(r[ours[1]] for r in sw) * 1e3
    jr = statistics.median(r["peak_rss_mb"] for r in jax)
    sr = statistics.median(r["peakResidentBytes"] for r in sw) / 2**20
    print(f"{task:6} {j:9.1f} {s:9.1f} {j / s:6.2f} {je:11.1f} {se:13.1f} {je / se:6.2f} {jr:10.0f} {sr:12.0f}")
    fastest[task] = [min(x for r in jax for x in r["meta_iter_s"]) * 1e3, min(x for r in sw for x in r[our_runs[0]]) * 1e3,
                     min(x for r in jax for x in r["eval100_s"]) * 1e3, min(x for r in sw for x in r[our_runs[1]]) * 1e3]
# Each program's fastest single run over all rounds (why: the header).
print(f"{'task':6} {'JAX ms':>9} {'Swift ms':>9} {'ratio':>6} {'JAX eval100':>11} {'Swift eval100':>13} {'ratio':>6}  (fastest single runs)")
for task, (j, s, je, se) in fastest.items():
    print(f"{task:6} {j:9.1f} {s:9.1f} {j / s:6.2f} {je:11.1f} {se:13.1f} {je / se:6.2f}")
EOF
