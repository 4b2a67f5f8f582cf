# Shared by launch/setup.sh and launch/test.sh (sourced, not run).
#
#   ensure_packages PACKAGE...
#
# Installs the Debian/Ubuntu packages among PACKAGE... that are not installed: with apt-get when
# running as root, otherwise it prints the sudo command to run and exits 1. Returns 1 without
# doing anything where there is no dpkg (not Debian): the caller then checks for the tools itself.
# Messages start with the name of the script that sourced this file.

ensure_packages() {
    local who package
    who="launch/$(basename "$0")"
    command -v dpkg-query >/dev/null 2>&1 || return 1
    local missing=()
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$package")
        fi
    done
    ((${#missing[@]} > 0)) || return 0
    if [[ "$(id -u)" -eq 0 ]]; then
        echo "$who: installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    else
        echo "$who: missing packages: ${missing[*]}" >&2
        echo "Install them with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
}
