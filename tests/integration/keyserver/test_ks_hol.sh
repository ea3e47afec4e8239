#!/usr/bin/env bash
# test_ks_hol.sh - a hung HSM call holds only the requests that need it (issue 12).
#
# The key server loads the fault-injecting PKCS#11 module (tests/integration/pkcs11) over SoftHSM;
# its "hangkey" command makes every C_Sign with key k1 sleep 4 s (longer than op_timeout_ms 2 s).
# ks_hol_client then holds 4 /sign requests on key-one and, on 28 other keep-alive connections,
# sends GET /health and POST /sign on key-two: each must answer within 100 ms (the bound issue 12
# names) with a signature that verifies, and each hung request must end with 503 hsm_unavailable
# within op_timeout_ms + 100 ms (the same bound). Afterwards key-one signs again once the hang is lifted (its slots
# come back when the hung calls return), every decision is in the audit chain, and the server
# stops cleanly. Default threading (a thread per connection). All 32 connections sign once at the
# same time before the hang, so that the HSM sessions are open (the test is about waiting).
# The 100 ms bound is issue 12's; a sanitizer build sets KS_HOL_BOUND_MS=1000 for both (instrumented
# server and client on 2 shared cores). Whatever the bound, ks_hol_client also requires that every other
# client was answered before the first hung request ended: nothing waited behind the hung calls.
#
# Usage: test_ks_hol.sh ANODE_KEYSERVER KS_HOL_CLIENT TEST_KS_AUDIT P11_FAULT_MODULE
# Every server started here is stopped by its PID; loopback only.
set -uo pipefail

KS=$1 HOL=$2 AUDIT=$3 FAULT=${4:-}
BOUND_MS=${KS_HOL_BOUND_MS:-100}
SRC=${AK_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
WORK=$(mktemp -d /tmp/ks_hol.XXXXXX)
. "$SRC/tests/integration/keyserver/ks_lib.sh"
if [ -z "$FAULT" ] || [ ! -r "$FAULT" ]; then
    echo "test_ks_hol: the fault-injecting PKCS#11 module was not built" >&2
    exit 1
fi

export SOFTHSM2_CONF
SOFTHSM2_CONF=$("$SRC/deploy/softhsm-init.sh" "$WORK/hsm" kshol 123456 654321 k1 01) || exit 1
pkcs11-tool --module "$MODULE" --token-label kshol --login --pin 123456 --keypairgen \
    --key-type EC:secp256k1 --label k2 --id 02 --usage-sign --sensitive >/dev/null || exit 1
"$SRC/deploy/pki.sh" "$WORK/pki" connector >/dev/null || exit 1
PKI=$WORK/pki
printf '123456\n' >"$WORK/pin"
chmod 600 "$WORK/pin"
OP_TIMEOUT_MS=2000
cat >"$WORK/ks.json" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": 0},
  "tls": {"cert": "$PKI/server.crt", "key": "$PKI/server.key", "client_ca": "$PKI/ca.crt"},
  "pkcs11": {"module": "$FAULT", "token_label": "kshol", "pin_file": "$WORK/pin",
             "op_timeout_ms": $OP_TIMEOUT_MS},
  "keys": {"key-one": "pkcs11:object=k1", "key-two": "pkcs11:object=k2"},
  "clients": {"cn:connector": "*"},
  "audit": {"file": "$WORK/audit.log", "fsync": "always"}
}
JSON
CTL=$WORK/fault.ctl
echo "1 none" >"$CTL"
SLOG=$WORK/server.log
P11_FAULT_TARGET=$MODULE P11_FAULT_FILE=$CTL "$KS" --config "$WORK/ks.json" >"$SLOG" 2>&1 &
SPID=$!
PIDS+=("$SPID")
PORT=
for _ in $(seq 100); do
    PORT=$(sed -n 's/.*listening on .* port \([0-9]*\).*/\1/p' "$SLOG" 2>/dev/null)
    [ -n "$PORT" ] && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
done
[ -n "$PORT" ] || { echo "server did not start:" >&2; cat "$SLOG" >&2; exit 1; }
U=https://127.0.0.1:$PORT
C=(-s --cacert "$PKI/ca.crt" --cert "$PKI/connector.crt" --key "$PKI/connector.key")
S() { echo "{\"key_id\":\"$1\",\"data\":\"$(head -c 32 /dev/urandom | base64)\"}"; }
code() { curl "${C[@]}" -o "$WORK/body" -w '%{http_code}' "$@"; }

check "the start line names the threading (not \"0 threads\")" \
    grep -q 'clients, a thread per connection)' "$SLOG"
PUB2=$(curl "${C[@]}" "$U/pubkey?key_id=key-two" | jq -r .public_key)
check "key-one signs before the hang" eq "$(code -d "$(S key-one)" "$U/sign")" 200

# ---- key-one's calls hang: 4 requests wait on it, 28 other connections must not ---------------
echo "2 hangkey 4000 k1" >"$CTL"
check "4 hung key-one requests; /health and key-two /sign on 28 other connections within $BOUND_MS ms" \
    "$HOL" "$U" "$PKI/ca.crt" "$PKI/connector.crt" "$PKI/connector.key" key-one key-two "$PUB2" \
    4 28 "$BOUND_MS" $((OP_TIMEOUT_MS + BOUND_MS))

# ---- the hang lifted: key-one signs again once the hung calls have returned ---------------------
echo "3 none" >"$CTL"
signed_again=0
for _ in $(seq 60); do
    if [ "$(code -d "$(S key-one)" "$U/sign")" = 200 ]; then signed_again=1; break; fi
    sleep 0.1
done
check "key-one signs again after the hang" eq "$signed_again" 1

kill "$SPID"
wait "$SPID"
rc=$?
check "server stops cleanly (exit 0, no sanitizer report)" \
    eval "[ $rc -eq 0 ] && ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' '$SLOG'"
check "audit chain verifies" "$AUDIT" --verify "$WORK/audit.log"
# 1 (before) + 32 warm-up + 4 hung + 28 others + 1 (after) decisions sent to the HSM, each with
# its result
check "audit: 4 hung key-one requests recorded as hsm_error" \
    eq "$(grep '"key_id":"key-one"' "$WORK/audit.log" | grep -c '"outcome":"hsm_error"')" 4
check "audit: every request sent to the HSM has its decision record (>= 66 allowed)" \
    test "$(grep -c '"outcome":"allowed"' "$WORK/audit.log")" -ge 66
check "audit: 32 warm-up + 28 key-two signatures" \
    eq "$(grep '"key_id":"key-two"' "$WORK/audit.log" | grep -c '"outcome":"signed"')" 60

echo "test_ks_hol: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
