# ks_lib.sh - sourced by the key server's shell tests after they set KS, SRC and WORK: the
# bookkeeping they share (PIDs to stop, pass/fail counters, check/eq helpers). Every server a test
# starts goes into PIDS and is stopped by its PID on exit.
# shellcheck shell=bash
MODULE=${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
PIDS=()
FAILS=0 PASSES=0

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

ok() { PASSES=$((PASSES + 1)); }
fail() { FAILS=$((FAILS + 1)); echo "FAIL: $*" >&2; }
check() { # DESCRIPTION COMMAND...
    local d=$1
    shift
    if "$@"; then ok; else fail "$d"; fi
}
eq() { [ "$1" = "$2" ] || { echo "  got '$1' want '$2'" >&2; return 1; }; }
