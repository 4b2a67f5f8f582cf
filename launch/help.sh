# Sourced first by the launch scripts: `-h` or `--help` as the first argument prints the script's
# header comment (its usage and settings) and exits 0, before anything runs. Scripts that take no
# arguments went on to their work (minutes of timing), and those that take a file or directory
# used "--help" as its name.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/help.sh" "$@"
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
    exit 0
fi
