#!/usr/bin/env bash
# Measured speed-up of coordinate sharding on this machine (docs/scaling.md, "Measured on the
# development machine"): the MLP recipe (mlp-p20: meta-batch 2) and a meta-batch-1 MLP on 1 rank,
# on 2 ranks as 2 groups (S = 1, meta-batch 2 only) and on 2 ranks as 1 group of 2 shards (S = 2).
# Validation is off (it is not part of a meta-step); everything else is the recipe's.
#
#   bash launch/shard-speedup.sh [OUT_DIR]        default OUT_DIR: runs/shard-speedup
#
# OUT_DIR: a relative path is from the directory you start the script in (the default is in the
# repository root). Writes OUT_DIR/runs/SERIES.npN.rK (series mlp-b2-s1, mlp-b2-s2, mlp-b1-s2; the
# 1-rank run of a meta-batch is copied into each of its series as np1), OUT_DIR/logs/,
# OUT_DIR/conditions.txt (load averages) and the summary of `metaopt-dist scaling-plot`
# (OUT_DIR/scaling.{csv,md,svg}): the median over the measured meta-steps of each run, then over
# REPS repetitions (interleaved). Before it starts, it removes the run directories of these three
# series that an earlier run left in OUT_DIR/runs, and nothing else; an OUT_DIR/runs that holds
# anything other than those is refused (status 64, before any run), since scaling-plot would
# summarise it with them.
# Every run starts only when the 1-minute load average is below QUIET (default 0.5) or after
# MAX_WAIT seconds (default 300) of waiting; the load at each start is recorded.
# Environment: REPS (5), WARMUP (3), STEPS (12), QUIET, MAX_WAIT.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/help.sh" "$@"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ $# -gt 1 || ( $# -eq 1 && -z "$1" ) ]]; then
    echo "usage: shard-speedup.sh [OUT_DIR]" >&2
    exit 64
fi
# common.sh has changed to the repository root: a relative OUT_DIR is from the caller's directory.
out="${1:-runs/shard-speedup}"
if [[ $# -eq 1 && "$out" != /* ]]; then out="$caller_dir/${out#./}"; out="${out%/.}"; fi
reps="${REPS:-5}"
warmup="${WARMUP:-3}"
steps="${STEPS:-12}"
quiet="${QUIET:-0.5}"
max_wait="${MAX_WAIT:-300}"
for v in "$reps" "$steps"; do
    if ! is_positive_int "$v"; then
        echo "shard-speedup.sh: REPS and STEPS must be positive integers (got '$reps', '$steps')" >&2
        exit 64
    fi
done
if ! [[ "$warmup" =~ ^[[:digit:]]+$ && "$max_wait" =~ ^[[:digit:]]+$ ]]; then
    echo "shard-speedup.sh: WARMUP and MAX_WAIT must be whole numbers ≥ 0 (got '$warmup', '$max_wait')" >&2
    exit 64
fi
if ! [[ "$quiet" =~ ^([[:digit:]]+\.?[[:digit:]]*|\.[[:digit:]]+)$ ]]; then
    echo "shard-speedup.sh: QUIET must be a load average ≥ 0, e.g. 0.5 (got '$quiet')" >&2
    exit 64
fi
# Earlier runs of this script's own series go (a smaller REPS would leave some behind, which
# scaling-plot would summarise too); anything else in OUT_DIR/runs is not ours to remove.
remove_own_runs shard-speedup.sh "$out" "mlp-b2-s1|mlp-b2-s2|mlp-b1-s2"
mkdir -p "$out/runs" "$out/logs"
printf '{"validate-every": null, "validation-functions": null}\n' > "$out/no-validation.json"
: > "$out/conditions.txt"

wait_quiet() {
    local waited=0
    while LC_ALL=C awk -v q="$quiet" '{exit !($1 >= q)}' /proc/loadavg && ((waited < max_wait)); do
        sleep 5
        waited=$((waited + 5))
    done
}

run() {
    local name="$1" np="$2"
    shift 2
    wait_quiet
    echo "$name: load average $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/conditions.txt"
    echo "shard-speedup.sh: $name" >&2
    if ! bash launch/local.sh -np "$np" train --recipe mlp-p20 --config "$out/no-validation.json" \
            --iterations $((warmup + steps)) --no-resume --checkpoint-every 0 --progress-every 1000 \
            --run-dir "$out/runs/$name" "$@" > "$out/logs/$name.log" 2>&1; then
        echo "shard-speedup.sh: $name failed; see $out/logs/$name.log" >&2
        tail -20 "$out/logs/$name.log" >&2
        exit 1
    fi
}

for ((rep = 1; rep <= reps; rep++)); do
    run "mlp-b2-s1.np1.r$rep" 1 --meta-batch 2
    cp -r "$out/runs/mlp-b2-s1.np1.r$rep" "$out/runs/mlp-b2-s2.np1.r$rep"
    run "mlp-b2-s1.np2.r$rep" 2 --meta-batch 2 --shards 1
    run "mlp-b2-s2.np2.r$rep" 2 --meta-batch 2 --shards 2
    run "mlp-b1-s2.np1.r$rep" 1 --meta-batch 1
    run "mlp-b1-s2.np2.r$rep" 2 --meta-batch 1 --shards 2
done
echo "end: load average $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/conditions.txt"

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
"$metaopt_bin" scaling-plot --runs "$out/runs" --warmup "$warmup" --csv "$out/scaling.csv" --svg "$out/scaling.svg" \
    --markdown "$out/scaling.md" --title "Coordinate sharding of the MLP recipe on this machine" \
    --subtitle "commit $commit, $(nproc) cores, REPS=$reps, STEPS=$steps"
cat "$out/scaling.md" "$out/conditions.txt"
