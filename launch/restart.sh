#!/usr/bin/env bash
# Runs a command again after it fails, like torchrun's --max-restarts: a meta-training run resumes
# from its newest checkpoint on every restart, so a crash costs at most one checkpoint interval.
#
#   bash launch/restart.sh [--max-restarts N] [--backoff SECONDS] [--stop-signal SIGNAL] -- COMMAND [ARGS...]
#   bash launch/restart.sh --max-restarts 3 --stop-signal USR1 -- bash launch/local.sh -np 8 train --run-dir runs/q
#
# COMMAND runs with METAOPT_RESTART_COUNT=K in its environment (0 for the first launch, 1 for the
# first restart, ...). After it exits with a non-zero status it is started again, after a pause of
# --backoff seconds (default 2), until it succeeds or has been restarted N times (--max-restarts,
# default 3); each restart is logged to stderr. The script exits with the command's last status.
# A --no-resume in COMMAND applies until a launch has started over: the restarts after that drop
# it and resume the run it started (otherwise every crash would start over from meta-step 0).
# metaopt-dist train tells the script so through a file named by METAOPT_STARTED_OVER_FILE, which
# rank 0 creates: it must run on this script's host (launch/local.sh, and hostfile.sh started on
# the first host, pass the variable on), or TMPDIR must be shared; a plain mpirun to other hosts
# needs -x METAOPT_STARTED_OVER_FILE. Where rank 0 cannot create it, --no-resume stays on.
#
# Not restarted: status 0; status 64 (EX_USAGE: bad arguments, which a restart cannot fix); status
# 65 (metaopt-dist train stopped for a reason a restart would meet again: too many skipped
# meta-steps, ranks with different arguments or data, a resume refused for another configuration,
# a checkpoint past --iterations, no usable checkpoint, a file of the run that cannot be written
# where it is asked for); and any status after this script was asked
# to stop. SIGTERM, SIGINT, SIGHUP and SIGUSR1 sent to this script are
# passed on to the command as --stop-signal (default TERM; USR1 and USR2 again 1, 2, 4, ... 32 s
# later while it runs, as mpirun forwards one that comes before its ranks exist to no one); a
# metaopt-dist train run then finishes its horizon, writes a checkpoint and exits 0. Under Open MPI's mpirun (launch/local.sh,
# launch/hostfile.sh) pass --stop-signal USR1: mpirun forwards SIGUSR1 to every rank, but answers
# SIGTERM by killing the ranks itself after about a second (docs/checkpoints.md).
#
# The command runs in the background of this script with standard input from /dev/null, in a
# process group of its own: Ctrl-C in a terminal (SIGINT to the terminal's foreground process
# group) reaches only this script, which passes --stop-signal on. (Otherwise mpirun would get the
# SIGINT too and kill the ranks a second later, whatever --stop-signal says.) SIGHUP (the terminal
# closed) is handled like SIGTERM. A command that cannot be found or run is reported once, with
# status 127 or 126, and not restarted.
set -uo pipefail

# A job that a non-interactive shell starts with & begins with SIGINT and SIGQUIT ignored, and bash
# cannot trap a signal ignored at its start (`trap -p INT` lists it as ''): `kill -INT` then did
# nothing. Start again with their default dispositions (env --default-signal: coreutils 8.31 and
# later; older ones keep them), once: the variable is gone again after the check.
if [[ -z "${METAOPT_RESTART_SIGNALS_RESET:-}" && "$(trap -p INT)" == *"''"* ]] \
    && env --default-signal=INT true 2>/dev/null; then
    exec env --default-signal=INT,QUIT METAOPT_RESTART_SIGNALS_RESET=1 bash "$0" "$@"
fi
unset METAOPT_RESTART_SIGNALS_RESET

me="restart.sh"
max_restarts=3
backoff=2
stop_signal=TERM

usage() {
    echo "usage: $me [--max-restarts N] [--backoff SECONDS] [--stop-signal SIGNAL] -- COMMAND [ARGS...]" >&2
    exit 64
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --max-restarts)
            [[ $# -ge 2 && "$2" =~ ^[[:digit:]]+$ ]] || { echo "$me: --max-restarts needs a non-negative integer" >&2; usage; }
            max_restarts="$2"; shift 2 ;;
        --max-restarts=*)
            max_restarts="${1#*=}"
            [[ "$max_restarts" =~ ^[[:digit:]]+$ ]] || { echo "$me: --max-restarts needs a non-negative integer" >&2; usage; }
            shift ;;
        --backoff)
            [[ $# -ge 2 && "$2" =~ ^[[:digit:]]+([.][[:digit:]]+)?$ ]] || { echo "$me: --backoff needs a number of seconds" >&2; usage; }
            backoff="$2"; shift 2 ;;
        --backoff=*)
            backoff="${1#*=}"
            [[ "$backoff" =~ ^[[:digit:]]+([.][[:digit:]]+)?$ ]] || { echo "$me: --backoff needs a number of seconds" >&2; usage; }
            shift ;;
        --stop-signal)
            # Not "--" (the command's separator) or "-9" (kill -l takes it as an option and passes).
            [[ $# -ge 2 && "$2" != -* ]] || { echo "$me: --stop-signal needs a signal name or number" >&2; usage; }
            stop_signal="$2"; shift 2 ;;
        --stop-signal=*)
            stop_signal="${1#*=}"
            [[ "$stop_signal" != -* ]] || { echo "$me: --stop-signal needs a signal name or number" >&2; usage; }
            shift ;;
        -h|--help)
            sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            exit 0 ;;
        --)
            shift; break ;;
        *)
            echo "$me: unknown option '$1' (the command goes after --)" >&2; usage ;;
    esac
done
[[ $# -ge 1 ]] || { echo "$me: no command given" >&2; usage; }
# Decimal, whatever its leading zeros: bash reads 08 in arithmetic as a bad octal number, and the
# failed comparison restarted the command for ever (010 gave up after 8).
max_restarts=$((10#$max_restarts))
# A signal by name or number that can stop a process: not 0 (no signal), and not bash's EXIT,
# ERR, DEBUG or RETURN, which kill -l also knows.
if [[ "$stop_signal" =~ ^[[:digit:]]+$ ]]; then
    name="$(kill -l "$stop_signal" 2>/dev/null || true)"
    [[ "$stop_signal" -gt 0 && -n "$name" ]] && stop_signal="$name"
fi
stop_signal="$(LC_ALL=C tr "[:lower:]" "[:upper:]" <<< "$stop_signal")"
stop_signal="${stop_signal#SIG}"  # after upper-casing, so that sigusr1 is USR1 (it was SIGUSR1)
if [[ "$stop_signal" =~ ^(EXIT|ERR|DEBUG|RETURN|0)$ || "$stop_signal" =~ ^[[:digit:]]+$ ]] \
        || ! kill -l "$stop_signal" >/dev/null 2>&1; then
    echo "$me: unknown signal '$stop_signal' (give a name such as TERM or USR1, or its number)" >&2
    usage
fi

child=""
stopping=0
backing_off=0
on_signal() {
    local name="$1"
    if [[ $stopping -eq 0 && $backing_off -eq 1 ]]; then
        echo "$me: got SIG$name during the back-off" >&2
    elif [[ $stopping -eq 0 ]]; then
        echo "$me: got SIG$name: passing SIG$stop_signal to the command; it will not be restarted" >&2
    fi
    stopping=1
    if [[ -n "$child" ]]; then
        kill -s "$stop_signal" "$child" 2>/dev/null || true
    fi
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT
trap 'on_signal USR1' USR1
trap 'on_signal HUP' HUP

# A typo in the command is not a failure that a restart can fix.
if [[ "$1" == */* && -e "$1" && ( -d "$1" || ! -x "$1" ) ]]; then
    echo "$me: not an executable file: $1" >&2
    exit 126
elif ! command -v -- "$1" >/dev/null 2>&1; then
    hint=""
    # `-- NP=8 bash launch/local.sh`: an assignment is not a command here.
    if [[ "$1" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then hint=" (to set a variable: -- env $1 ...)"; fi
    echo "$me: command not found: $1$hint" >&2
    exit 127
fi

# A private directory (absolute: the command may change directory) for the file train creates once
# it has started over; without one, --no-resume stays on every attempt (the earlier behaviour).
marker_dir="$(mktemp -d "${TMPDIR:-/tmp}/metaopt-restart.XXXXXX" 2>/dev/null)" || marker_dir=""
if [[ -n "$marker_dir" ]]; then
    marker_dir="$(cd "$marker_dir" && pwd -P)"
    started_over="$marker_dir/started-over"
    export METAOPT_STARTED_OVER_FILE="$started_over"
    trap 'rm -rf "$marker_dir"' EXIT
else
    started_over=""
    echo "$me: cannot make a directory under ${TMPDIR:-/tmp}: --no-resume, if given, stays on every restart" >&2
fi
attempt=0
while :; do
    export METAOPT_RESTART_COUNT="$attempt"
    # Job control on (set -m) for the launch only: the command gets a process group of its own.
    set -m
    # Once a launch has started over (train creates METAOPT_STARTED_OVER_FILE when its
    # --no-resume has set the earlier run aside), a restart resumes what it wrote, not start over
    # again; a launch that failed before that point keeps --no-resume for the next one.
    if [[ $attempt -gt 0 && -n "$started_over" && -e "$started_over" ]]; then
        kept=()
        for word in "$@"; do [[ "$word" == --no-resume ]] || kept+=("$word"); done
        if [[ ${#kept[@]} -ne $# ]]; then
            echo "$me: restarting without --no-resume (an earlier launch started over; this one resumes it)" >&2
            set -- "${kept[@]}"
        fi
    fi
    "$@" </dev/null &
    child=$!
    set +m
    # `wait` returns early when a trapped signal arrives; wait again until the command is gone.
    # After a stop request with SIGUSR1 or SIGUSR2, pass it on again 1, 2, 4, ... 32 s later while
    # the command runs: mpirun forwards them, and one that comes before its ranks exist to no one
    # (a Ctrl-C in its first tenth of a second was lost, and the run trained to its end); more of
    # them change nothing. Not SIGTERM or SIGINT: mpirun ends the job on the first, and exits at
    # once on a second, before its ranks have said what they saved.
    quarters=0
    resend_at=4
    [[ "$stop_signal" == USR1 || "$stop_signal" == USR2 ]] || resend_at=256
    while kill -0 "$child" 2>/dev/null; do
        if [[ $stopping -eq 0 || $resend_at -gt 128 ]]; then
            wait "$child" 2>/dev/null
            continue
        fi
        sleep 0.25
        quarters=$((quarters + 1))
        if [[ $quarters -ge $resend_at && $resend_at -le 128 ]] && kill -0 "$child" 2>/dev/null; then
            kill -s "$stop_signal" "$child" 2>/dev/null || true
            resend_at=$((resend_at * 2))
        fi
    done
    wait "$child" 2>/dev/null
    status=$?
    child=""

    if [[ $status -eq 0 ]]; then
        [[ $attempt -gt 0 ]] && echo "$me: the command succeeded after $attempt restart(s)" >&2
        exit 0
    fi
    if [[ $stopping -ne 0 ]]; then
        echo "$me: the command exited with status $status after a stop request; not restarting" >&2
        exit "$status"
    fi
    if [[ $status -eq 64 ]]; then
        echo "$me: the command exited with status 64 (usage error); not restarting" >&2
        exit "$status"
    fi
    if [[ $status -eq 65 ]]; then
        echo "$me: the command exited with status 65 (a stop that a restart would repeat); not restarting" >&2
        exit "$status"
    fi
    if [[ $attempt -ge $max_restarts ]]; then
        echo "$me: the command exited with status $status; giving up after $attempt restart(s) (--max-restarts $max_restarts)" >&2
        exit "$status"
    fi
    attempt=$((attempt + 1))
    echo "$me: the command exited with status $status; restart $attempt of $max_restarts in ${backoff} s" >&2
    backing_off=1
    sleep "$backoff" &
    child=$!
    wait "$child" 2>/dev/null
    child=""
    backing_off=0
    if [[ $stopping -ne 0 ]]; then
        echo "$me: stop requested during the back-off; not restarting" >&2
        exit "$status"
    fi
done
