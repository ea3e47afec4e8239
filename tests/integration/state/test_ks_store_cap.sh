#!/usr/bin/env bash
# test_ks_store_cap.sh - the key server's cumulative caps on a real PostgreSQL (pg_lib.sh:
# temporary directory, unprivileged user, Unix socket), stopped by PID on exit.
# Usage: test_ks_store_cap.sh BINARY
set -euo pipefail
BIN=$1
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=pg_lib.sh
source "$HERE/pg_lib.sh"
WORK=$(mktemp -d)
chmod 755 "$WORK"
cleanup() {
    pg_stop "$WORK/pg"
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/pg"
pg_setup "$WORK/pg"
export AK_PG_DIR="$WORK/pg" AK_PG_LIB="$HERE/pg_lib.sh"
AK_PG_URL=$(pg_url "$WORK/pg")
export AK_PG_URL
"$BIN"
