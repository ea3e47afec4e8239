#!/usr/bin/env bash
# test_ks_deadlines.sh - anode-keyserver against connections that never authenticate (issue 17):
# 1,000 connections that never handshake (from one address, then from 100) while a client with
# a valid certificate signs within 1 s; a silent connection, a ClientHello one byte per second
# and a request header one byte per second (slowloris, after a valid handshake) are closed by
# the handshake and header deadlines; the closures are counted by reason.
#
# Usage: test_ks_deadlines.sh ANODE_KEYSERVER
# Loopback only (the attackers use source addresses 127.0.0.2-127.0.0.102, all loopback on
# Linux). Every server started here is stopped by its PID.
set -uo pipefail

KS=$1
SRC=${AK_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/ks_dl.XXXXXX)
. "$SRC/tests/integration/keyserver/ks_lib.sh"
between() { # VALUE LOW HIGH (decimals)
    awk -v v="$1" -v l="$2" -v h="$3" 'BEGIN { exit !(v >= l && v <= h) }' ||
        { echo "  $1 not in [$2, $3]" >&2; return 1; }
}

export SOFTHSM2_CONF
SOFTHSM2_CONF=$("$SRC/deploy/softhsm-init.sh" "$WORK/hsm" ksdl 123456 654321 k1 01) || exit 1
"$SRC/deploy/pki.sh" "$WORK/pki" connector >/dev/null || exit 1
PKI=$WORK/pki
printf '123456\n' >"$WORK/pin"
chmod 600 "$WORK/pin"
write_config() { # FILE THREADS
    cat >"$1" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": 0},
  "tls": {"cert": "$PKI/server.crt", "key": "$PKI/server.key",
          "client_ca": "$PKI/ca.crt", "crl": "$PKI/crl.pem"},
  "pkcs11": {"module": "$MODULE", "token_label": "ksdl", "pin_file": "$WORK/pin",
             "max_sessions": 2},
  "keys": {"key-one": "pkcs11:object=k1"},
  "clients": {"cn:connector": "*"},
  "audit": {"file": "$WORK/audit.log", "fsync": "always"},
  "limits": {"handshake_timeout_s": 2, "header_timeout_s": 3,
             "max_unauthenticated_per_ip": 16, "max_unauthenticated": 64, "threads": $2}
}
JSON
}
write_config "$WORK/ks.json" 0

# ---- configuration ------------------------------------------------------------------------------
bad() { # DESCRIPTION FRAGMENT JQ
    jq "$3" "$WORK/ks.json" >"$WORK/bad.json"
    local out rc
    out=$("$KS" --config "$WORK/bad.json" --check-config 2>&1)
    rc=$?
    if [ $rc -eq 2 ] && grep -qF -- "$2" <<<"$out"; then ok; else fail "bad config ($1): rc=$rc out=$out"; fi
}
bad "handshake deadline 0" "limits.handshake_timeout_s: must be an integer in 1..600" '.limits.handshake_timeout_s=0'
bad "header deadline too long" "limits.header_timeout_s: must be an integer in 1..600" '.limits.header_timeout_s=601'
bad "unauthenticated cap not below max_connections" "limits.max_unauthenticated: must be below limits.max_connections (256)" '.limits.max_unauthenticated=256'

# Both threading modes: a thread per connection (default) and the epoll pool.
for threads in 0 2; do
write_config "$WORK/ks.json" $threads
echo "-- threads=$threads"
"$KS" --config "$WORK/ks.json" >"$WORK/server.log" 2>&1 &
SPID=$!
PIDS+=("$SPID")
for _ in $(seq 100); do
    PORT=$(sed -n 's/.*listening on .* port \([0-9]*\).*/\1/p' "$WORK/server.log" 2>/dev/null)
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { cat "$WORK/server.log" >&2; exit 1; }
U=https://127.0.0.1:$PORT
C=(-s --cacert "$PKI/ca.crt" --cert "$PKI/connector.crt" --key "$PKI/connector.key")
S() { echo "{\"key_id\":\"key-one\",\"data\":\"$(head -c 32 /dev/urandom | base64)\"}"; }
metric() {
    curl "${C[@]}" "$U/metrics" | awk -v n="$1" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}
signs_fast() { # DESCRIPTION: a new connection with a valid certificate gets /sign within 1 s
    local out
    out=$(curl "${C[@]}" -o /dev/null -w '%{http_code} %{time_total}' -d "$(S)" "$U/sign")
    if [ "${out%% *}" = 200 ] && between "${out#* }" 0 1; then ok; else
        fail "$1 (threads=$threads): $out"
    fi
}
signs_fast "before any flood"

# ---- 1,000 connections that never handshake, from one address ----------------------------------
python3 "$HERE/ks_flood.py" hold "$PORT" 1000 127.0.0.2 1 4 >"$WORK/hold1.out" &
FLOOD=$!
sleep 1.5 # the flood is open and idle
signs_fast "1,000 idle connections from one address"
signs_fast "1,000 idle connections from one address (again)"
wait "$FLOOD"
check "one address: every flood connection was closed (per-address cap, then the handshake deadline)" \
    eq "$(cat "$WORK/hold1.out")" 1000
check "per-address cap counted" test "$(metric 'anode_keyserver_unauthenticated_closed_total{reason="per_address_cap"}')" -ge 900
check "handshake deadline counted" test "$(metric 'anode_keyserver_unauthenticated_closed_total{reason="handshake_deadline"}')" -ge 16

# ---- 1,000 from 100 addresses (10 each: under the per-address cap) ------------------------------
python3 "$HERE/ks_flood.py" hold "$PORT" 1000 127.0.0.3 100 4 >"$WORK/hold2.out" &
FLOOD=$!
sleep 1.5
signs_fast "1,000 idle connections from 100 addresses"
signs_fast "1,000 idle connections from 100 addresses (again)"
wait "$FLOOD"
check "100 addresses: every flood connection was closed" eq "$(cat "$WORK/hold2.out")" 1000
check "evictions counted" test "$(metric 'anode_keyserver_unauthenticated_closed_total{reason="evicted"}')" -ge 1

# ---- deadlines ----------------------------------------------------------------------------------
t=$(python3 "$HERE/ks_flood.py" silent "$PORT" 127.0.0.200)
check "a silent connection is closed at the handshake deadline (2 s)" between "$t" 1.5 3.5
t=$(python3 "$HERE/ks_flood.py" trickle-hello "$PORT")
check "a ClientHello at one byte per second is closed at the handshake deadline (2 s)" between "$t" 1.5 3.5
hd=$(metric 'anode_keyserver_unauthenticated_closed_total{reason="header_deadline"}')
t=$(python3 "$HERE/ks_flood.py" trickle-tls "$PORT" "$PKI/ca.crt" "$PKI/connector.crt" "$PKI/connector.key")
check "slowloris after a valid handshake is closed at the header deadline (3 s)" between "$t" 2.5 4.5
check "header deadline counted" eq "$(metric 'anode_keyserver_unauthenticated_closed_total{reason="header_deadline"}')" $((hd + 1))
# an authenticated keep-alive connection is not subject to the deadlines
get='GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n'
{ printf "$get"; sleep 4; printf "$get"; sleep 1; } |
    timeout 20 openssl s_client -quiet -connect "127.0.0.1:$PORT" -CAfile "$PKI/ca.crt" \
        -cert "$PKI/connector.crt" -key "$PKI/connector.key" 2>/dev/null |
    grep -ao 'HTTP/1\.1 [0-9]*' | paste -sd, >"$WORK/ka.out"
check "an authenticated keep-alive connection outlives the deadlines" eq "$(cat "$WORK/ka.out")" "HTTP/1.1 200,HTTP/1.1 200"
signs_fast "after the attacks"
check "the floods did not flood the log (libmicrohttpd lines capped at 20 a second)" \
    test "$(grep -c 'anode-keyserver: http: ' "$WORK/server.log")" -lt 400

kill "$SPID"
wait "$SPID"
rc=$?
if [ $rc -eq 0 ] && ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$WORK/server.log"; then ok; else
    fail "server exit $rc or sanitizer report:"
    grep -E -A20 'Sanitizer|runtime error' "$WORK/server.log" | head -40 >&2
fi
done

echo "test_ks_deadlines: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
