#!/usr/bin/env bash
# test_ks_hsm.sh - anode-keyserver when the HSM or the disk fails under it (issue 17):
#  - the SoftHSM token is removed (its directory moved away) and restored: 503 meanwhile, then
#    signing resumes within 5 s of the token's return without a restart, the same key, counted
#    in hsm_reconnects_total (the module is re-initialised: SoftHSM sees a restored token only
#    after C_Finalize + C_Initialize);
#  - fdatasync of the audit log fails (LD_PRELOAD shim): no signature is returned from then on,
#    single, batch or concurrent, and the failure is counted.
#
# Usage: test_ks_hsm.sh ANODE_KEYSERVER FDATASYNC_SHIM TEST_KS_AUDIT
# Every server started here is stopped by its PID; loopback only.
set -uo pipefail

KS=$1 SHIM=$2 AUDIT=$3
SRC=${AK_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
WORK=$(mktemp -d /tmp/ks_hsm.XXXXXX)
. "$SRC/tests/integration/keyserver/ks_lib.sh"

export SOFTHSM2_CONF
SOFTHSM2_CONF=$("$SRC/deploy/softhsm-init.sh" "$WORK/hsm" kshsm 123456 654321 k1 01) || exit 1
"$SRC/deploy/pki.sh" "$WORK/pki" connector >/dev/null || exit 1
PKI=$WORK/pki
printf '123456\n' >"$WORK/pin"
chmod 600 "$WORK/pin"
write_config() { # FILE AUDIT [THREADS]
    cat >"$1" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": 0},
  "tls": {"cert": "$PKI/server.crt", "key": "$PKI/server.key", "client_ca": "$PKI/ca.crt"},
  "pkcs11": {"module": "$MODULE", "token_label": "kshsm", "pin_file": "$WORK/pin",
             "max_sessions": 4, "op_timeout_ms": 3000},
  "keys": {"key-one": "pkcs11:object=k1"},
  "clients": {"cn:connector": "*"},
  "audit": {"file": "$2", "fsync": "always"},
  "limits": {"threads": ${3:-0}}
}
JSON
}
start_server() { # CONFIG LOG [env...] -> PORT, SPID, SLOG, U
    local cfg=$1
    SLOG=$2
    shift 2
    env "$@" "$KS" --config "$cfg" >"$SLOG" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    for _ in $(seq 100); do
        PORT=$(sed -n 's/.*listening on .* port \([0-9]*\).*/\1/p' "$SLOG" 2>/dev/null)
        [ -n "$PORT" ] && { U=https://127.0.0.1:$PORT; return 0; }
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server did not start:" >&2
    cat "$SLOG" >&2
    exit 1
}
stop_server() {
    kill "$1"
    wait "$1"
    local rc=$?
    if [ $rc -eq 0 ] && ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$SLOG"; then ok; else
        fail "server exit $rc or sanitizer report in $SLOG:"
        grep -E -A20 'Sanitizer|runtime error' "$SLOG" | head -40 >&2
    fi
}
C=(-s --cacert "$PKI/ca.crt" --cert "$PKI/connector.crt" --key "$PKI/connector.key")
S() { echo "{\"key_id\":\"key-one\",\"data\":\"$(head -c 32 /dev/urandom | base64)\"}"; }
code() { curl "${C[@]}" -o "$WORK/body" -w '%{http_code}' "$@"; }
metric() {
    curl "${C[@]}" "$U/metrics" | awk -v n="$1" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}
now() { date +%s.%N; }

# ---- token removed and restored -------------------------------------------------------------------
for threads in 0 2; do
    write_config "$WORK/ks.json" "$WORK/audit-$threads.log" "$threads"
    start_server "$WORK/ks.json" "$WORK/server-tok-$threads.log"
    M="(threads=$threads)"
    PUB=$(curl "${C[@]}" "$U/pubkey?key_id=key-one" | jq -r .public_key)
    check "token $M: signs before the removal" eq "$(code -d "$(S)" "$U/sign")" 200
    rec0=$(metric anode_keyserver_hsm_reconnects_total)
    tok=$(ls "$WORK/hsm/tokens")
    mv "$WORK/hsm/tokens/$tok" "$WORK/token-away"
    codes=""
    for _ in $(seq 8); do codes="$codes$(code -d "$(S)" "$U/sign") "; sleep 0.3; done
    check "token $M: removed -> every request 503 ($codes)" eq "$codes" "503 503 503 503 503 503 503 503 "
    check "token $M: the reason is hsm_unavailable" eq "$(jq -r .error.code "$WORK/body")" hsm_unavailable
    check "token $M: health says so" eq "$(code "$U/health")" 503
    mv "$WORK/token-away" "$WORK/hsm/tokens/$tok"
    t0=$(now)
    got=""
    while awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a < 10) }'; do
        c=$(code -d "$(S)" "$U/sign")
        [ "$c" = 200 ] && { got=$(now); break; }
        sleep 0.2
    done
    if [ -n "$got" ]; then
        el=$(awk -v a="$t0" -v b="$got" 'BEGIN { printf "%.2f", b - a }')
        echo "token $M: signing resumed ${el} s after the token's return"
        check "token $M: signing resumes within 5 s of the token's return (took $el s)" \
            awk -v e="$el" 'BEGIN { exit !(e < 5) }'
    else
        fail "token $M: signing did not resume within 10 s of the token's return"
    fi
    check "token $M: the same key afterwards" eq "$(curl "${C[@]}" "$U/pubkey?key_id=key-one" | jq -r .public_key)" "$PUB"
    check "token $M: health ok again" eq "$(code "$U/health")" 200
    check "token $M: no restart (same process)" kill -0 "$SPID"
    check "token $M: re-initialisation counted in hsm_reconnects_total" \
        test "$(metric anode_keyserver_hsm_reconnects_total)" -gt "$rec0"
    # a second removal and return works the same way
    mv "$WORK/hsm/tokens/$tok" "$WORK/token-away"
    check "token $M: removed again -> 503" eq "$(code -d "$(S)" "$U/sign")" 503
    mv "$WORK/token-away" "$WORK/hsm/tokens/$tok"
    ok2=""
    for _ in $(seq 50); do [ "$(code -d "$(S)" "$U/sign")" = 200 ] && { ok2=1; break; }; sleep 0.2; done
    check "token $M: back again after the second return" test -n "$ok2"
    stop_server "$SPID"
    check "token $M: the audit chain verifies" "$AUDIT" --verify "$WORK/audit-$threads.log"
done

# ---- fdatasync fails: never a signature whose record may not be durable ---------------------------
write_config "$WORK/sync.json" "$WORK/audit-sync.log"
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
start_server "$WORK/sync.json" "$WORK/server-sync.log" LD_PRELOAD="$SHIM" AK_FAIL_FSYNC_FILE="$WORK/fail-sync"
check "fdatasync: signs while the disk works" eq "$(code -d "$(S)" "$U/sign")" 200
sigs=$(metric anode_keyserver_signatures_total)
touch "$WORK/fail-sync"
check "fdatasync fails -> 503" eq "$(code -d "$(S)" "$U/sign")" 503
check "fdatasync fails -> audit_unavailable, no signature" \
    eq "$(jq -r '.error.code + " " + (has("signature")|tostring)' "$WORK/body")" "audit_unavailable false"
check "fdatasync: a batch gets no signature either" \
    eq "$(code -d "{\"requests\":[$(S),$(S)]}" "$U/sign"):$(grep -c signature "$WORK/body")" "503:0"
for i in $(seq 8); do curl "${C[@]}" -o "$WORK/par-$i" -w '%{http_code}' -d "$(S)" "$U/sign" >"$WORK/par-$i.code" & done
wait_all() { for i in $(seq 8); do while [ ! -s "$WORK/par-$i.code" ]; do sleep 0.1; done; done; }
wait_all
check "fdatasync: 8 concurrent requests, no signature returned" \
    eq "$(cat "$WORK"/par-*.code | tr -d '\n'):$(cat "$WORK"/par-? | grep -c signature)" "503503503503503503503503:0"
rm -f "$WORK/fail-sync"
check "fdatasync: the log stays failed after one error (fail closed until a restart)" \
    eq "$(code -d "$(S)" "$U/sign")" 503
check "fdatasync: no signature counted since the failure" eq "$(metric anode_keyserver_signatures_total)" "$sigs"
check "fdatasync: failures counted" test "$(metric anode_keyserver_audit_failures_total)" -ge 11
check "fdatasync: logged" grep -q "audit fdatasync failed: Input/output error" "$SLOG"
stop_server "$SPID"
check "fdatasync: the chain written so far verifies" "$AUDIT" --verify "$WORK/audit-sync.log"
start_server "$WORK/sync.json" "$WORK/server-sync2.log"
check "fdatasync: after a restart on a working disk, signing works" eq "$(code -d "$(S)" "$U/sign")" 200
stop_server "$SPID"

echo "test_ks_hsm: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
