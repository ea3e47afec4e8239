#!/usr/bin/env bash
# test_ks_reload.sh - hot reload of the whole key server configuration (issue 14 item 2), under
# load: 16 clients sign with key-one throughout (ks_client_load until:FILE, a new connection
# every 16th request) while SIGHUP adds a key (and grants it to a client), removes it, changes a
# key's policy both ways, rotates the server certificate, and is sent broken files (invalid JSON,
# a restart-only setting changed, a key the HSM does not have). Expected: zero failed requests
# in the load, each change visible at once, each refusal logged with its reason and counted,
# anode_keyserver_config_generation counting each reload that took effect, and a key's
# cumulative-cap total (issue 11) kept across every reload.
#
# Usage: test_ks_reload.sh ANODE_KEYSERVER KS_CLIENT_LOAD
# Every server started here is stopped by its PID.
set -uo pipefail

KS=$1 LOAD=$2
SRC=${AK_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
WORK=$(mktemp -d /tmp/ks_reload.XXXXXX)
. "$SRC/tests/integration/keyserver/ks_lib.sh"

export SOFTHSM2_CONF
SOFTHSM2_CONF=$("$SRC/deploy/softhsm-init.sh" "$WORK/hsm" kstest 123456 654321 k1 01) || exit 1
for k in k2:02 k3:03; do
    pkcs11-tool --module "$MODULE" --token-label kstest --login --pin 123456 --keypairgen \
        --key-type EC:secp256k1 --label "${k%%:*}" --id "${k##*:}" --usage-sign --sensitive \
        >/dev/null || exit 1
done
"$SRC/deploy/pki.sh" "$WORK/pki" connector alice >/dev/null || exit 1
PKI=$WORK/pki
echo 123456 >"$WORK/pin"
chmod 600 "$WORK/pin"

# The configuration: BASE, then a jq filter per step (the file the server reads is always CFG).
CFG=$WORK/ks.json
cat >"$WORK/base.json" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": 0},
  "tls": {"cert": "$PKI/server.crt", "key": "$PKI/server.key", "client_ca": "$PKI/ca.crt"},
  "pkcs11": {"module": "$MODULE", "token_label": "kstest", "pin_file": "$WORK/pin",
             "max_sessions": 4},
  "keys": {"key-one": "pkcs11:object=k1",
           "key-two": {"uri": "pkcs11:id=%02", "policy": {"raw_digest": false}},
           "key-capped": {"uri": "pkcs11:object=k2", "policy": {"raw_digest": false,
                          "cumulative_cap": {"value_wei": "10", "window_s": 3600}}}},
  "clients": {"cn:connector": "*", "cn:alice": ["key-two"]},
  "audit": {"file": "$WORK/audit.log", "fsync": "always"},
  "limits": {"max_body": 8192, "max_batch": 4}
}
JSON
cp "$WORK/base.json" "$CFG"
step_config() { jq "$1" "$WORK/base.json" >"$CFG.tmp" && mv "$CFG.tmp" "$CFG"; }

SLOG=$WORK/server.log
"$KS" --config "$CFG" >"$SLOG" 2>&1 &
SPID=$!
PIDS+=("$SPID")
PORT=
for _ in $(seq 100); do
    PORT=$(sed -n 's/.*listening on .* port \([0-9]*\).*/\1/p' "$SLOG" 2>/dev/null)
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { echo "server did not start:" >&2; cat "$SLOG" >&2; exit 1; }
U=https://127.0.0.1:$PORT
C=(-s --cacert "$PKI/ca.crt" --cert "$PKI/connector.crt" --key "$PKI/connector.key")
A=(-s --cacert "$PKI/ca.crt" --cert "$PKI/alice.crt" --key "$PKI/alice.key")
D32=$(head -c 32 /dev/urandom | base64)
TOOL=(node "$SRC/tests/integration/keyserver/ks_intent_tool.js")
TO=0x3535353535353535353535353535353535353535
capped() { # VALUE_WEI -> "STATUS CODE RULE" of a transaction of that value on key-capped
    local i b
    i=$("${TOOL[@]}" tx 2 31337 $TO "$1")
    b=$(curl "${C[@]}" -w '\n%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$(jq -nc --argjson i "$i" '{key_id:"key-capped",intent:$i}')" "$U/sign")
    echo "$(tail -n1 <<<"$b") $(sed '$d' <<<"$b" | jq -r '(.error.code // "-") + " " + ((.error.message // "") | capture("policy rule (?<r>[a-z_]+)").r // "-")' 2>/dev/null)"
}

status() { # KEY_ID CURL_ARGS... -> "STATUS ERROR_CODE" of a digest-only /sign
    local k=$1 b
    shift
    b=$(curl "$@" -w '\n%{http_code}' -d "{\"key_id\":\"$k\",\"data\":\"$D32\"}" "$U/sign")
    echo "$(tail -n1 <<<"$b") $(sed '$d' <<<"$b" | jq -r '.error.code // "-"' 2>/dev/null)"
}
metric() { # NAME (with labels) -> value
    curl "${C[@]}" "$U/metrics" | awk -v n="$1" '$1 == n {print $2; f=1} END {if (!f) print "absent"}'
}
hup() { # send SIGHUP and wait for the line that says how it ended
    local n
    n=$(grep -c 'SIGHUP: configuration' "$SLOG")
    kill -HUP "$SPID"
    for _ in $(seq 300); do
        [ "$(grep -c 'SIGHUP: configuration' "$SLOG")" -gt "$n" ] && return 0
        sleep 0.1
    done
    fail "no reload line after SIGHUP"
}
last_reload() { grep 'SIGHUP: configuration' "$SLOG" | tail -n1; }

check "generation 1 at start" eq "$(metric anode_keyserver_config_generation)" 1
check "no reload yet" eq "$(metric 'anode_keyserver_config_reload_total{result="ok"}')" 0
PUB1=$(curl "${C[@]}" "$U/pubkey?key_id=key-one" | jq -r .public_key)

# ---- 16 clients sign with key-one throughout -------------------------------------------------
"$LOAD" "$U/sign" "$PKI/ca.crt" "$PKI/connector.crt" "$PKI/connector.key" key-one "$PUB1" 16 \
    "until:$WORK/stop" >"$WORK/load.out" 2>&1 &
LPID=$!
PIDS+=("$LPID")
sleep 1

# ---- add a key, granted to alice too -----------------------------------------------------------
check "before: key-three unknown" eq "$(status key-three "${C[@]}")" "403 key_not_allowed"
step_config '.keys["key-three"]="pkcs11:object=k3" | .clients["cn:alice"]=["key-two","key-three"]'
hup
check "add: reloaded as generation 2" grep -q 'reloaded: generation 2 (4 keys, 2 clients)' <<<"$(last_reload)"
check "add: key-three signs" eq "$(status key-three "${C[@]}")" "200 -"
check "add: alice got key-three" eq "$(status key-three "${A[@]}")" "200 -"
check "add: key-three's public key" eq "$(curl "${C[@]}" "$U/pubkey?key_id=key-three" | jq -r '.public_key | length')" 132
check "generation metric 2" eq "$(metric anode_keyserver_config_generation)" 2

# ---- remove it ---------------------------------------------------------------------------------
step_config '.'
hup
check "remove: generation 3" grep -q 'reloaded: generation 3 (3 keys, 2 clients)' <<<"$(last_reload)"
check "remove: key-three refused" eq "$(status key-three "${C[@]}")" "403 key_not_allowed"
check "remove: alice refused too" eq "$(status key-three "${A[@]}")" "403 key_not_allowed"

# ---- a policy change: refused becomes allowed, then the reverse ---------------------------------
# (and key-capped, unchanged, keeps its cumulative total across these reloads: 6 of 10 wei now)
check "cap: 6 of 10 wei signed" eq "$(capped 6)" "200 - -"
check "policy: digest-only on key-two refused" eq "$(status key-two "${C[@]}")" "403 policy_denied"
step_config '.keys["key-two"].policy.raw_digest=true'
hup
check "policy: generation 4" grep -q 'reloaded: generation 4' <<<"$(last_reload)"
check "policy: digest-only on key-two now allowed" eq "$(status key-two "${C[@]}")" "200 -"
check "cap: the total survived the reload (5 more is over)" eq "$(capped 5)" "403 policy_denied cumulative_over_cap"
check "cap: 4 more fits exactly" eq "$(capped 4)" "200 - -"
step_config '.'
hup
check "policy: generation 5" grep -q 'reloaded: generation 5' <<<"$(last_reload)"
check "policy: refused again" eq "$(status key-two "${C[@]}")" "403 policy_denied"

# ---- rotate the server certificate (same CA) ---------------------------------------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/new.key" \
    -subj /CN=localhost -out "$WORK/new.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$WORK/ext"
openssl x509 -req -in "$WORK/new.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -days 30 \
    -extfile "$WORK/ext" -out "$WORK/new.crt" 2>/dev/null
chmod 600 "$WORK/new.key"
served_fp() {
    openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$PKI/ca.crt" -cert "$PKI/connector.crt" \
        -key "$PKI/connector.key" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256
}
new_fp=$(openssl x509 -in "$WORK/new.crt" -noout -fingerprint -sha256)
check "tls: the old certificate is served" test "$(served_fp)" != "$new_fp"
mv "$WORK/new.key" "$PKI/server.key"
mv "$WORK/new.crt" "$PKI/server.crt"
hup
check "tls: generation 6" grep -q 'reloaded: generation 6' <<<"$(last_reload)"
check "tls: the new certificate is served" eq "$(served_fp)" "$new_fp"
check "tls: a new connection signs" eq "$(status key-one "${C[@]}")" "200 -"

# ---- broken files: each refused, named, counted; generation 6 stays ------------------------------
bad_reload() { # DESCRIPTION LOG_FRAGMENT
    hup
    local l
    l=$(last_reload)
    if grep -qF -- "refused, generation 6 stays in force: " <<<"$l" && grep -qF -- "$2" <<<"$l"; then ok; else
        fail "$1: $(last_reload)"
    fi
}
echo '{"listen": ' >"$CFG"
bad_reload "invalid JSON" "not valid JSON"
step_config '.listen.port=1'
bad_reload "a restart-only setting" "listen.port changed: it needs a restart"
step_config '.audit.file="/tmp/elsewhere.log"'
bad_reload "the audit log path" "audit.file changed: it needs a restart"
step_config '.keys["key-four"]="pkcs11:object=nosuchkey"'
bad_reload "a key the HSM lacks" "keys.key-four:"
step_config '.clients["cn:alice"]=["nope"]'
bad_reload "a grant of an unknown key" 'clients.cn:alice[0]: unknown key id "nope"'
check "broken: generation metric still 6" eq "$(metric anode_keyserver_config_generation)" 6
check "broken: the previous configuration is in force" eq "$(status key-two "${C[@]}")" "403 policy_denied"
check "broken: key-one signs" eq "$(status key-one "${C[@]}")" "200 -"
check "cap: still full after 5 reloads and 5 refused ones" eq "$(capped 1)" "403 policy_denied cumulative_over_cap"

# ---- the load saw no failure -----------------------------------------------------------------------
touch "$WORK/stop"
wait "$LPID"
lrc=$?
check "load: 16 clients, zero failed requests across 5 reloads and 5 refused ones ($(cat "$WORK/load.out"))" eq "$lrc" 0
check "reload_total ok = 5" eq "$(metric 'anode_keyserver_config_reload_total{result="ok"}')" 5
check "reload_total error = 5" eq "$(metric 'anode_keyserver_config_reload_total{result="error"}')" 5
check "generation = 6" eq "$(metric anode_keyserver_config_generation)" 6
if command -v promtool >/dev/null; then
    curl "${C[@]}" "$U/metrics" | promtool check metrics >/dev/null 2>&1
    check "promtool check metrics" eq "$?" 0
fi

kill "$SPID"
wait "$SPID"
check "server exits 0 after the reloads" eq "$?" 0
check "no sanitizer report" bash -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' '$SLOG'"
echo "test_ks_reload: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ] || { echo "--- server log" >&2; tail -n 30 "$SLOG" >&2; cat "$WORK/load.out" >&2; }
[ "$FAILS" -eq 0 ]
