#!/usr/bin/env bash
# test_store.sh - st_store against both backends: the memory run, then a real PostgreSQL
# (Debian's server, pg_lib.sh: temporary directory, unprivileged user, Unix socket + loopback
# TLS port) for the postgres run, stopped by PID on exit. Usage: test_store.sh BINARY
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

"$BIN" memory

mkdir -p "$WORK/pg"
pg_setup "$WORK/pg"
export AK_PG_DIR="$WORK/pg" AK_PG_LIB="$HERE/pg_lib.sh" AK_PG_PORT="$PG_PORT"
AK_PG_URL=$(pg_url "$WORK/pg")
export AK_PG_URL
export AK_PG_CA="$WORK/pg/tls/ca.crt" AK_PG_BADCA="$WORK/pg/tls/badca.crt"
export AK_PG_PWFILE="$WORK/pg/pwfile"
"$BIN" postgres
