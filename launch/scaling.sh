#!/usr/bin/env bash
# Scaling series of metaopt-dist meta-training (docs/scaling.md): strong scaling (fixed global
# meta-batch), weak scaling (fixed meta-batch per rank) and the allreduce latencies.
#
#   bash launch/scaling.sh [OUT_DIR]          default OUT_DIR: runs/scaling
#
# OUT_DIR: a relative path is from the directory you start the script in (the default is in the
# repository root). Runs the release binary (launch/setup.sh builds it; METAOPT_BIN picks another)
# through launch/local.sh, so every rank has OPENBLAS_NUM_THREADS=1 and more ranks than cores are
# oversubscribed. Writes OUT_DIR/runs/SERIES.npN.rK (one run directory per job), OUT_DIR/logs/,
# OUT_DIR/allreduce.txt, and the summary from `metaopt-dist scaling-plot`: OUT_DIR/scaling.csv,
# OUT_DIR/scaling.md (Markdown table) and OUT_DIR/scaling.svg (throughput and efficiency).
# Before it starts, it removes the run directories of its own series that an earlier run left in
# OUT_DIR/runs (strong-n10.npN.rK, strong-n100.npN.rK, weak-n10.npN.rK), and nothing else; an
# OUT_DIR/runs that holds anything other than those is refused (status 64, before any run), since
# scaling-plot would summarise it with them.
#
# Series (quadratic task, unroll 20, horizon 100, block size 16):
#   strong-n10   global B = 128 (8 blocks), 10-dimensional quadratics (the paper's task)
#   strong-n100  global B = 128 (8 blocks), 100-dimensional quadratics (10× the coordinates per task)
#   weak-n10     B = 32 per rank (2 blocks per rank), 10-dimensional quadratics
# Each meta-step time is a difference of rank 0's `elapsed` in metrics.jsonl; the first WARMUP
# meta-steps of every run are left out; medians over meta-steps, then over REPS repetitions
# (run interleaved, so that background load spreads over all points).
#
# Environment: NPS (default "1 2 4 8"), REPS (3), WARMUP (3), STEPS (20 measured meta-steps for
# the n=10 series; the n=100 series does STEPS/3), QUICK=1 (REPS=1, STEPS=6: a smoke test),
# NETNS=0 to skip the allreduce over TCP between two network-namespace hosts (done only as root
# with the ip command, and with no spaces in the checkout's path or OUT_DIR: see
# launch/netns-hosts.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/help.sh" "$@"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ $# -gt 1 || ( $# -eq 1 && -z "$1" ) ]]; then
    echo "usage: scaling.sh [OUT_DIR]" >&2
    exit 64
fi
# common.sh has changed to the repository root: a relative OUT_DIR is from the caller's directory.
out="${1:-runs/scaling}"
if [[ $# -eq 1 && "$out" != /* ]]; then out="$caller_dir/${out#./}"; out="${out%/.}"; fi
nps="${NPS:-1 2 4 8}"
reps="${REPS:-3}"
warmup="${WARMUP:-3}"
steps="${STEPS:-20}"
if [[ "${QUICK:-0}" == "1" ]]; then
    reps=1
    steps=6
fi
for v in "$reps" "$warmup" "$steps"; do
    if ! is_positive_int "$v"; then
        echo "scaling.sh: REPS, WARMUP and STEPS must be positive integers" >&2
        exit 64
    fi
done
for np in $nps; do
    if ! is_positive_int "$np"; then
        echo "scaling.sh: NPS must list positive integers, got '$np'" >&2
        exit 64
    fi
done
steps_large=$(( (steps + 2) / 3 ))
cores="$(nproc)"

# Earlier runs of this script's own series go (a smaller NPS or REPS would leave some behind,
# which scaling-plot would summarise too); anything else in OUT_DIR/runs is not ours to remove.
remove_own_runs scaling.sh "$out" "strong-n10|strong-n100|weak-n10"
mkdir -p "$out/runs" "$out/logs"
# Other work on the machine skews every figure: record the load before and after.
echo "start: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)" > "$out/conditions.txt"

common=(--unroll 20 --horizon 100 --block-size 16 --no-resume --checkpoint-every 0 --progress-every 1000)

# series name, ranks, repetition, then train arguments
run() {
    local series="$1" np="$2" rep="$3"
    shift 3
    local dir="$out/runs/$series.np$np.r$rep"
    echo "scaling.sh: $series, $np rank(s), repetition $rep" >&2
    if ! bash launch/local.sh -np "$np" train "${common[@]}" "$@" --run-dir "$dir" \
            > "$out/logs/$series.np$np.r$rep.log" 2>&1; then
        echo "scaling.sh: the run failed; see $out/logs/$series.np$np.r$rep.log" >&2
        tail -20 "$out/logs/$series.np$np.r$rep.log" >&2
        exit 1
    fi
}

for ((rep = 1; rep <= reps; rep++)); do
    for np in $nps; do
        run strong-n10 "$np" "$rep" --dimension 10 --meta-batch 128 --iterations $((warmup + steps))
        run strong-n100 "$np" "$rep" --dimension 100 --meta-batch 128 --iterations $((warmup + steps_large))
        run weak-n10 "$np" "$rep" --dimension 10 --meta-batch $((32 * np)) --iterations $((warmup + steps))
    done
done

# Allreduce latencies: the meta-step's two collectives (MAX of 6 doubles, SUM of |φ|+2 Int64),
# plus other sizes for a latency/bandwidth fit. Shared memory between the ranks of this machine.
counts=(--count 1 --count 640 --count 65536 --count 524288)
{
    echo "# metaopt-dist allreduce-bench on $(hostname), $cores cores; medians of 200 repetitions"
    echo "# shared memory (one host)"
    for np in $nps; do
        quiet_stderr bash launch/local.sh -np "$np" allreduce-bench "${counts[@]}" | grep '^ALLREDUCE'
    done
} > "$out/allreduce.txt"

# The same over TCP between two network-namespace hosts on a private bridge (inside this machine:
# a software bridge, not a network, but the real TCP path of Open MPI).
if [[ "${NETNS:-1}" != "0" && "$(id -u)" -eq 0 ]] && command -v ip >/dev/null 2>&1; then
    prefix="sc$(( $$ % 10000 ))"
    subnet="10.98.$(( $$ % 200 + 20 ))"
    # Removed only when this run made them: an `up` refused because hosts with this prefix exist
    # already (another job's) leaves them alone.
    if bash launch/netns-hosts.sh up 2 "$prefix" "$subnet" > "$out/logs/netns.log" 2>&1; then
        trap 'bash launch/netns-hosts.sh down "$prefix" >/dev/null 2>&1 || true' EXIT
        mapfile -t netargs < <(bash launch/netns-hosts.sh mpirun-args "$prefix" "$subnet")
        {
            echo "# TCP between 2 network-namespace hosts (software bridge inside this machine)"
            for per_host in 1 2; do
                hostfile="$out/logs/netns-hostfile"
                printf '%s slots=%d\n' "$prefix-h1" "$per_host" "$prefix-h2" "$per_host" > "$hostfile"
                MPIRUN_ARGS="--hostfile $hostfile ${netargs[*]}" \
                    quiet_stderr bash launch/local.sh -np $((2 * per_host)) allreduce-bench "${counts[@]}" \
                    | grep '^ALLREDUCE' | sed "s/^ALLREDUCE /ALLREDUCE-TCP hosts=2 /"
            done
        } >> "$out/allreduce.txt"
        bash launch/netns-hosts.sh down "$prefix"
        trap - EXIT
    else
        echo "scaling.sh: could not create namespace hosts (see $out/logs/netns.log); no TCP figures" >&2
    fi
fi

echo "end:   $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/conditions.txt"

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty=""
if ! git diff --quiet HEAD 2>/dev/null; then dirty="+changes"; fi
"$metaopt_bin" scaling-plot --runs "$out/runs" --warmup "$warmup" --cores "$cores" \
    --csv "$out/scaling.csv" --svg "$out/scaling.svg" --markdown "$out/scaling.md" \
    --subtitle "$cores cores, release build at $commit$dirty, OPENBLAS_NUM_THREADS=1; medians of $reps run(s) × meta-steps after $warmup warm-up"
cat "$out/scaling.md"
echo
cat "$out/allreduce.txt"
echo
cat "$out/conditions.txt"
