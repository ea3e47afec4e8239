#!/usr/bin/env bash
# test_keyserver.sh - anode-keyserver end to end on a private SoftHSM2 token and a private PKI.
#
# Usage: test_keyserver.sh ANODE_KEYSERVER KS_CLIENT_LOAD TEST_KS_AUDIT [P11_FAULT_MODULE]
# Covers: command line and configuration errors (exit 2, field named), every endpoint's success
# and every error status, the mTLS matrix (no certificate, other CA, expired, not yet valid,
# revoked, valid but not allowed) with no signature made, keep-alive, concurrency with
# libsecp256k1 verification, the audit chain (and tamper detection), fail-closed audit, and
# (with P11_FAULT_MODULE, tests/integration/pkcs11) 503 on HSM faults and recovery after them.
# Every server started here is stopped by its PID.
set -uo pipefail

KS=$1 LOAD=$2 AUDIT=$3 FAULT=${4:-}
SRC=${AK_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
WORK=$(mktemp -d /tmp/ks_test.XXXXXX)
. "$SRC/tests/integration/keyserver/ks_lib.sh"

# ---- token and PKI ---------------------------------------------------------------------------
export SOFTHSM2_CONF
SOFTHSM2_CONF=$("$SRC/deploy/softhsm-init.sh" "$WORK/hsm" kstest 123456 654321 k1 01) || exit 1
pkcs11-tool --module "$MODULE" --token-label kstest --login --pin 123456 --keypairgen \
    --key-type EC:secp256k1 --label k2 --id 02 --usage-sign --sensitive >/dev/null || exit 1
"$SRC/deploy/pki.sh" --with-test-certs "$WORK/pki" connector alice nobody >/dev/null || exit 1
echo 123456 >"$WORK/pin"
chmod 600 "$WORK/pin" # a secret file: group/world-readable ones are refused
PKI=$WORK/pki
# pki.sh never replaces an existing CA (every certificate it issued would stop verifying)
ca_sum=$(sha256sum <"$PKI/ca.crt")
"$SRC/deploy/pki.sh" "$PKI" connector >/dev/null 2>&1
check "pki.sh refuses a directory that has a CA (exit 2)" eq "$?" 2
check "pki.sh left the CA as it was" eq "$(sha256sum <"$PKI/ca.crt")" "$ca_sum"
check "pki.sh: client certificates are clientAuth only" \
    eq "$(openssl x509 -in "$PKI/connector.crt" -noout -ext extendedKeyUsage | tail -n1 | tr -d ' ')" "TLSWebClientAuthentication"
check "pki.sh: the server certificate is serverAuth only" \
    eq "$(openssl x509 -in "$PKI/server.crt" -noout -ext extendedKeyUsage | tail -n1 | tr -d ' ')" "TLSWebServerAuthentication"

write_config() { # FILE AUDIT_FILE [THREADS (default 0: a thread per connection)]
    cat >"$1" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": 0},
  "tls": {"cert": "$PKI/server.crt", "key": "$PKI/server.key",
          "client_ca": "$PKI/ca.crt", "crl": "$PKI/crl.pem"},
  "pkcs11": {"module": "$MODULE", "token_label": "kstest", "pin_file": "$WORK/pin",
             "max_sessions": 4},
  "keys": {"key-one": "pkcs11:object=k1", "key-two": "pkcs11:id=%02"},
  "clients": {"cn:connector": "*", "cn:alice": ["key-two"], "cn:localhost": "*"},
  "audit": {"file": "$2", "fsync": "always"},
  "limits": {"max_body": 8192, "max_batch": 4, "max_json_depth": 4, "threads": ${3:-0}}
}
JSON
}

start_server() { # CONFIG LOG -> sets PORT, SPID, SLOG
    SLOG=$2
    "$KS" --config "$1" >"$2" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    for _ in $(seq 100); do
        PORT=$(sed -n 's/.*listening on .* port \([0-9]*\).*/\1/p' "$2" 2>/dev/null)
        [ -n "$PORT" ] && return 0
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server did not start:" >&2
    cat "$2" >&2
    exit 1
}

stop_server() { # PID: SIGTERM, then a clean exit (0) and no sanitizer report in its log
    kill "$1"
    wait "$1"
    local rc=$?
    if [ $rc -eq 0 ] && ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$SLOG"; then
        ok
    else
        fail "server exit $rc or sanitizer report in $SLOG:"
        grep -E -A20 'Sanitizer|runtime error' "$SLOG" | head -40 >&2
    fi
}

# ---- command line and configuration ----------------------------------------------------------
write_config "$WORK/ks.json" "$WORK/audit.log"
check "--help exits 0" "$KS" --help >/dev/null
check "--version exits 0" bash -c "'$KS' --version | grep -q anode-keyserver"
"$KS" --config "$WORK/ks.json" --pin 123456 >/dev/null 2>&1
check "a PIN on the command line is refused (exit 2)" eq $? 2
check "--check-config accepts a good config" "$KS" --config "$WORK/ks.json" --check-config

bad_config() { # DESCRIPTION EXPECTED_MESSAGE_FRAGMENT JQ_FILTER
    jq "$3" "$WORK/ks.json" >"$WORK/bad.json"
    local out rc
    out=$("$KS" --config "$WORK/bad.json" --check-config 2>&1)
    rc=$?
    if [ $rc -eq 2 ] && grep -qF -- "$2" <<<"$out"; then ok; else
        fail "bad config ($1): rc=$rc out=$out"
    fi
}
bad_config "missing tls" "tls: missing" 'del(.tls)'
bad_config "port out of range" "listen.port: must be an integer in 0..65535" '.listen.port=70000'
bad_config "port not a number" "listen.port" '.listen.port="8443"'
bad_config "unknown field" "pkcs11.pin: unknown field" '.pkcs11.pin="123456"'
bad_config "both PIN sources" "exactly one of pin_file or pin_env" '.pkcs11.pin_env="X"'
bad_config "no PIN source" "exactly one of pin_file or pin_env" 'del(.pkcs11.pin_file)'
bad_config "client names unknown key" 'clients.cn:alice[0]: unknown key id "nope"' \
    '.clients["cn:alice"]=["nope"]'
bad_config "bad identity" "clients.bob: an identity is" '.clients.bob="*"'
bad_config "bad fingerprint" "a fingerprint is 32 bytes of hex" '.clients["sha256:abcd"]="*"'
bad_config "pin-value in key URI" "keys.key-one: pin-value is not allowed" \
    '.keys["key-one"]="pkcs11:object=k1?pin-value=1"'
bad_config "URI on another token" "keys.key-one: token= differs from pkcs11.token_label" \
    '.keys["key-one"]="pkcs11:token=other;object=k1"'
bad_config "bad URI" "keys.key-one:" '.keys["key-one"]="pkcs11:bogus=1"'
bad_config "unreadable cert" "tls.cert: cannot read" '.tls.cert="/nonexistent.crt"'
bad_config "bad fsync" "audit.fsync" '.audit.fsync="sometimes"'
bad_config "limit out of range" "limits.max_batch: must be an integer" '.limits.max_batch=0'
bad_config "huge limit (no overflow)" "pkcs11.max_sessions: must be an integer in 1..256" '.pkcs11.max_sessions=1e300'
bad_config "negative limit" "limits.max_body: must be an integer" '.limits.max_body=-1'
bad_config "rate limit 0" "clients.cn:alice.max_signatures_per_s: must be an integer in 1..1000000" \
    '.clients["cn:alice"]={"keys":["key-two"],"max_signatures_per_s":0}'
bad_config "rate limit: unknown field" "clients.cn:alice.rate: unknown field" \
    '.clients["cn:alice"]={"keys":["key-two"],"rate":5}'
bad_config "rate limit: no keys" "clients.cn:alice.keys: missing" \
    '.clients["cn:alice"]={"max_signatures_per_s":5}'
bad_config "burst without a rate" "clients.cn:alice.burst: needs max_signatures_per_s" \
    '.clients["cn:alice"]={"keys":"*","burst":5}'
bad_config "bounded_calls not a bool" "pkcs11.bounded_calls: must be true or false" '.pkcs11.bounded_calls=1'
# cJSON would keep the first of two entries and cut a name at \u0000: both refused
sed 's/"cn:alice": \["key-two"\]/"cn:alice": ["key-two"], "cn:alice": "*"/' "$WORK/ks.json" >"$WORK/bad.json"
out=$("$KS" --config "$WORK/bad.json" --check-config 2>&1)
check "a duplicate client is exit 2" eq "$?:$(grep -c 'a key appears twice' <<<"$out")" "2:1"
sed 's/"key-two": "pkcs11:id=%02"/"key-two\\u0000x": "pkcs11:id=%02"/' "$WORK/ks.json" >"$WORK/bad.json"
out=$("$KS" --config "$WORK/bad.json" --check-config 2>&1)
check "a key id with \\u0000 is exit 2" eq "$?:$(grep -c 'contains a NUL character' <<<"$out")" "2:1"
echo '{"listen": ' >"$WORK/bad.json"
out=$("$KS" --config "$WORK/bad.json" --check-config 2>&1)
check "invalid JSON is exit 2 with a line" eq "$?:$(grep -c 'not valid JSON (near line' <<<"$out")" "2:1"
jq '.pkcs11.pin_file="/nonexistent/pin"' "$WORK/ks.json" >"$WORK/bad.json"
out=$("$KS" --config "$WORK/bad.json" --check-config 2>&1)
check "missing PIN file is exit 2" eq "$?:$(grep -c 'pkcs11.pin_file: cannot open' <<<"$out")" "2:1"
jq '.keys["key-one"]="pkcs11:object=nosuchkey"' "$WORK/ks.json" >"$WORK/bad.json"
out=$(timeout 20 "$KS" --config "$WORK/bad.json" 2>&1)
check "a key missing on the token is exit 2 naming it" \
    eq "$?:$(grep -c 'keys.key-one' <<<"$out")" "2:1"
jq '.pkcs11.pin_env="KS_TEST_PIN" | del(.pkcs11.pin_file)' "$WORK/ks.json" >"$WORK/env.json"
check "PIN from the environment" env KS_TEST_PIN=123456 "$KS" --config "$WORK/env.json" --check-config
out=$(env -u KS_TEST_PIN "$KS" --config "$WORK/env.json" --check-config 2>&1)
check "unset PIN variable is exit 2" eq "$?:$(grep -c 'KS_TEST_PIN is not set' <<<"$out")" "2:1"

# ---- the server --------------------------------------------------------------------------------
start_server "$WORK/ks.json" "$WORK/server.log"
U=https://127.0.0.1:$PORT
C=(-s --cacert "$PKI/ca.crt" --cert "$PKI/connector.crt" --key "$PKI/connector.key")
A=(-s --cacert "$PKI/ca.crt" --cert "$PKI/alice.crt" --key "$PKI/alice.key")
N=(-s --cacert "$PKI/ca.crt" --cert "$PKI/nobody.crt" --key "$PKI/nobody.key")
D32=$(head -c 32 /dev/urandom | base64)

# A second server on the running one's port (issue 12): exit 1, one line naming the port and the
# reason, no "Failed to bind to port 0" from libmicrohttpd; the start line names the threading.
check "start line: a thread per connection (not \"0 threads\")" \
    grep -q 'clients, a thread per connection)' "$WORK/server.log"
jq ".listen.port=$PORT | .audit.file=\"$WORK/audit-clash.log\"" "$WORK/ks.json" >"$WORK/clash.json"
"$KS" --config "$WORK/clash.json" >"$WORK/clash.log" 2>&1
check "port clash: exit 1" eq "$?" 1
check "port clash: the port and the reason" \
    grep -q "cannot listen on 127.0.0.1 port $PORT: Address already in use" "$WORK/clash.log"
check "port clash: no \"port 0\" line" eval "! grep -q 'port 0' '$WORK/clash.log'"

req() { # CURL_ARGS... -> "STATUS BODY" on stdout
    local body
    body=$(curl "$@" -w '\n%{http_code}')
    echo "$(tail -n1 <<<"$body") $(sed '$d' <<<"$body")"
}
metric() { # NAME -> value (0 if absent)
    curl "${C[@]}" "$U/metrics" | awk -v n="$1" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}
expect() { # DESCRIPTION STATUS ERROR_CODE_OR_- CURL_ARGS...
    local d=$1 st=$2 code=$3 r got
    shift 3
    r=$(req "$@")
    got=${r%% *}
    local b=${r#* }
    if [ "$got" != "$st" ]; then fail "$d: status $got want $st: $b"; return; fi
    if [ "$code" != "-" ] && [ "$(jq -r .error.code <<<"$b" 2>/dev/null)" != "$code" ]; then
        fail "$d: error code in $b, want $code"
        return
    fi
    ok
}

# /sign, single
r=$(req "${C[@]}" -H 'Authorization: Bearer ignored' -H 'Content-Type: application/json' \
    -d "{\"key_id\":\"key-one\",\"algorithm\":\"ECDSA_SHA256\",\"data\":\"$D32\",\"request_id\":\"r-1\"}" "$U/sign")
b=${r#* }
check "sign: 200" eq "${r%% *}" 200
check "sign: echoes key_id, algorithm, request_id" \
    eq "$(jq -r '[.key_id,.algorithm,.request_id]|join(",")' <<<"$b")" "key-one,ECDSA_SHA256,r-1"
sig_len=$(jq -r .signature <<<"$b" | base64 -d | wc -c)
check "sign: DER signature of 70..72 bytes" test "$sig_len" -ge 68 -a "$sig_len" -le 72
# without algorithm (defaults) and without request_id
expect "sign: algorithm optional" 200 - "${C[@]}" -d "{\"key_id\":\"key-two\",\"data\":\"$D32\"}" "$U/sign"

# /pubkey
PUB1=$(curl "${C[@]}" "$U/pubkey?key_id=key-one" | jq -r .public_key)
# a %00 in key_id must not be looked up as the prefix before it
expect "pubkey: NUL in key_id refused" 400 bad_key_id "${C[@]}" "$U/pubkey?key_id=key-one%00x"
expect "pubkey: key_id without NUL still works" 200 - "${C[@]}" "$U/pubkey?key_id=key-one"
r=$(req "${C[@]}" "$U/pubkey?key_id=key-one")
check "pubkey GET: curve and 65-byte key" eq "$(jq -r '.curve + " " + (.public_key|length|tostring)' <<<"${r#* }")" "secp256k1 132"
# the address must be keccak(X||Y)[12:] in EIP-55 form: computed independently with ethers
ADDR=$(jq -r .address <<<"${r#* }")
if [ -d "$SRC/tests/tools/node_modules/ethers" ]; then
    want=$(cd "$SRC/tests/tools" && node -e "const e=require('ethers');console.log(e.computeAddress('$PUB1'))")
    check "pubkey: address equals ethers.computeAddress" eq "$ADDR" "$want"
fi
r=$(req "${C[@]}" -d '{"key_id":"key-two"}' "$U/pubkey")
check "pubkey POST" eq "${r%% *}:$(jq -r .key_id <<<"${r#* }")" "200:key-two"
r=$(req "${C[@]}" "$U/pubkey")
check "pubkey list (connector: all keys)" eq "$(jq -r '[.keys[].key_id]|join(",")' <<<"${r#* }")" "key-one,key-two"
r=$(req "${A[@]}" "$U/pubkey")
check "pubkey list (alice: only key-two)" eq "$(jq -r '[.keys[].key_id]|join(",")' <<<"${r#* }")" "key-two"
# a certificate from our CA whose identity is not in `clients` may use no endpoint at all
expect "unlisted client: GET /pubkey 403" 403 client_not_allowed "${N[@]}" "$U/pubkey"
expect "unlisted client: GET /pubkey?key_id 403" 403 client_not_allowed "${N[@]}" "$U/pubkey?key_id=key-one"
expect "unlisted client: GET /health 403" 403 client_not_allowed "${N[@]}" "$U/health"
expect "unlisted client: POST /health 403" 403 client_not_allowed "${N[@]}" -d '{"key_id":"key-one"}' "$U/health"
expect "unlisted client: GET /metrics 403" 403 client_not_allowed "${N[@]}" "$U/metrics"

# /health
r=$(req "${C[@]}" "$U/health")
check "health GET" eq "${r%% *}:$(jq -r .status <<<"${r#* }")" "200:ok"
expect "health POST" 200 - "${C[@]}" -d '{"key_id":"key-one"}' "$U/health"
expect "health POST, key not allowed" 403 key_not_allowed "${A[@]}" -d '{"key_id":"key-one"}' "$U/health"
expect "health POST, bad body" 400 bad_json "${C[@]}" -d '{"key_id":' "$U/health"
expect "health POST, extra field" 400 unknown_field "${C[@]}" -d '{"key_id":"key-one","x":1}' "$U/health"

# /metrics
curl "${C[@]}" "$U/metrics" >"$WORK/metrics.txt"
check "metrics pass promtool check metrics" promtool check metrics <"$WORK/metrics.txt"
check "metrics count signatures" grep -q '^anode_keyserver_signatures_total 2$' "$WORK/metrics.txt"

# errors
S() { echo "{\"key_id\":\"${1:-key-one}\",\"algorithm\":\"${2:-ECDSA_SHA256}\",\"data\":\"${3:-$D32}\"}"; }
expect "400 bad JSON" 400 bad_json "${C[@]}" -d '{"key_id":' "$U/sign"
expect "400 not an object" 400 bad_json "${C[@]}" -d '[1,2]' "$U/sign"
expect "400 empty body" 400 bad_json "${C[@]}" -X POST "$U/sign"
expect "400 bad base64" 400 bad_base64 "${C[@]}" -d "$(S key-one ECDSA_SHA256 'not*base64')" "$U/sign"
expect "400 digest of 31 bytes" 400 bad_digest_length "${C[@]}" -d "$(S key-one ECDSA_SHA256 "$(head -c 31 /dev/zero | base64)")" "$U/sign"
expect "400 digest of 33 bytes" 400 bad_digest_length "${C[@]}" -d "$(S key-one ECDSA_SHA256 "$(head -c 33 /dev/zero | base64)")" "$U/sign"
expect "400 unknown algorithm" 400 unknown_algorithm "${C[@]}" -d "$(S key-one ECDSA_SHA512)" "$U/sign"
expect "400 wrong field type" 400 bad_field_type "${C[@]}" -d "{\"key_id\":1,\"data\":\"$D32\"}" "$U/sign"
expect "400 unknown field" 400 unknown_field "${C[@]}" -d "{\"key_id\":\"key-one\",\"data\":\"$D32\",\"x\":\"y\"}" "$U/sign"
expect "400 missing field" 400 missing_field "${C[@]}" -d '{"key_id":"key-one"}' "$U/sign"
expect "400 nesting too deep" 400 json_too_deep "${C[@]}" -d '{"a":[[[[[1]]]]]}' "$U/sign"
# JSON that cJSON would read differently from other parsers (ak_json.h): refused, nothing signed
before=$(metric anode_keyserver_hsm_sign_calls_total)
D32B=$(head -c 32 /dev/urandom | base64)
no_sig() { # DESCRIPTION CURL_ARGS... -> 400 invalid_json and no signature in the reply
    local d=$1 r
    shift
    r=$(req "$@")
    if [ "${r%% *}" = 400 ] && [ "$(jq -r .error.code <<<"${r#* }")" = invalid_json ] &&
        ! grep -q signature <<<"$r"; then ok; else fail "$d: $r"; fi
}
no_sig "sign: key_id with \\u0000" "${C[@]}" -d "{\"key_id\":\"key-one\\u0000x\",\"data\":\"$D32\"}" "$U/sign"
no_sig "sign: key_id k\\u0000x" "${C[@]}" -d "{\"key_id\":\"k\\u0000x\",\"data\":\"$D32\"}" "$U/sign"
no_sig "sign: duplicate data" "${C[@]}" -d "{\"key_id\":\"key-one\",\"data\":\"$D32\",\"data\":\"$D32B\"}" "$U/sign"
no_sig "sign: duplicate key_id" "${C[@]}" -d "{\"key_id\":\"key-one\",\"key_id\":\"key-two\",\"data\":\"$D32\"}" "$U/sign"
no_sig "batch: \\u0000 in one item" "${C[@]}" -d "{\"requests\":[$(S),{\"key_id\":\"key-one\",\"data\":\"$D32\",\"request_id\":\"a\\u0000b\"}]}" "$U/sign"
no_sig "batch: duplicate data in one item" "${C[@]}" -d "{\"requests\":[$(S),{\"key_id\":\"key-one\",\"data\":\"$D32\",\"data\":\"$D32B\"}]}" "$U/sign"
no_sig "batch: duplicate requests" "${C[@]}" -d "{\"requests\":[$(S)],\"requests\":[$(S)]}" "$U/sign"
printf '{"key_id":"key-one","data":"%s"}\0' "$D32" >"$WORK/nul.json"
no_sig "sign: raw NUL byte in the body" "${C[@]}" --data-binary @"$WORK/nul.json" "$U/sign"
no_sig "pubkey POST: key_id with \\u0000" "${C[@]}" -d '{"key_id":"key-one\u0000x"}' "$U/pubkey"
no_sig "health POST: duplicate key_id" "${C[@]}" -d '{"key_id":"nope","key_id":"key-one"}' "$U/health"
# invalid UTF-8 (raw byte, overlong, encoded surrogate) and lone surrogate escapes (#17 item 6)
no_sig "sign: request_id with a raw 0xff byte" "${C[@]}" -d "{\"key_id\":\"key-one\",\"data\":\"$D32\",\"request_id\":\"a$(printf '\377')\"}" "$U/sign"
no_sig "sign: request_id with an overlong /" "${C[@]}" -d "{\"key_id\":\"key-one\",\"data\":\"$D32\",\"request_id\":\"$(printf '\300\257')\"}" "$U/sign"
no_sig "sign: request_id with an encoded surrogate" "${C[@]}" -d "{\"key_id\":\"key-one\",\"data\":\"$D32\",\"request_id\":\"$(printf '\355\240\200')\"}" "$U/sign"
no_sig "sign: request_id with \\uD800" "${C[@]}" -d "{\"key_id\":\"key-one\",\"data\":\"$D32\",\"request_id\":\"a\\uD800\"}" "$U/sign"
no_sig "sign: request_id with \\uDC00" "${C[@]}" -d "{\"key_id\":\"key-one\",\"data\":\"$D32\",\"request_id\":\"\\uDC00a\"}" "$U/sign"
check "no HSM signature for NUL / duplicate-key bodies" eq "$(metric anode_keyserver_hsm_sign_calls_total)" "$before"
# an escaped backslash before u0000 is no NUL: accepted
expect "sign: \"\\\\u0000\" is not a NUL" 200 - "${C[@]}" -d "{\"key_id\":\"key-one\",\"data\":\"$D32\",\"request_id\":\"a\\\\u0000\"}" "$U/sign"
# a surrogate pair escape and multi-byte UTF-8 are text: accepted
expect "sign: request_id with a surrogate pair and UTF-8" 200 - "${C[@]}" -d "{\"key_id\":\"key-one\",\"data\":\"$D32\",\"request_id\":\"\\uD83D\\uDE00 caf$(printf '\303\251')\"}" "$U/sign"
expect "400 empty batch" 400 empty_batch "${C[@]}" -d '{"requests":[]}' "$U/sign"
expect "413 batch too large" 413 batch_too_large "${C[@]}" -d "{\"requests\":[$(S),$(S),$(S),$(S),$(S)]}" "$U/sign"
expect "413 body over the limit (Content-Length)" 413 body_too_large "${C[@]}" -d "$(head -c 9000 /dev/zero | tr '\0' ' ')$(S)" "$U/sign"
expect "404 unknown path" 404 not_found "${C[@]}" "$U/nope"
expect "405 GET /sign" 405 method_not_allowed "${C[@]}" "$U/sign"
expect "405 DELETE /pubkey" 405 method_not_allowed "${C[@]}" -X DELETE "$U/pubkey"
expect "405 POST /metrics" 405 method_not_allowed "${C[@]}" -d x "$U/metrics"
allow=$(curl "${C[@]}" -o /dev/null -D - "$U/sign" | tr -d '\r' | sed -n 's/^Allow: //Ip')
check "405 carries Allow" eq "$allow" "POST"
# chunked upload past the limit: refused without reading it all (connection closed)
head -c 20000 /dev/zero | tr '\0' ' ' >"$WORK/big.json"
code=$(curl "${C[@]}" -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/big.json" "$U/sign")
check "chunked body over the limit is refused" test "$code" != 200

# 403: unknown key and not-allowed key are indistinguishable
before=$(metric anode_keyserver_hsm_sign_calls_total)
r1=$(req "${A[@]}" -d "$(S key-one)" "$U/sign")
r2=$(req "${A[@]}" -d "$(S no-such-key)" "$U/sign")
check "403 for a key the client may not use" eq "${r1%% *}" 403
check "403 for an unknown key is byte-identical" eq "$r1" "$r2"
r3=$(req "${A[@]}" "$U/pubkey?key_id=key-one")
r4=$(req "${A[@]}" "$U/pubkey?key_id=no-such-key")
check "pubkey 403 identical too" eq "${r3%% *}:$r3" "403:$r4"
check "no HSM signature for refused requests" eq "$(metric anode_keyserver_hsm_sign_calls_total)" "$before"

# batch: in order, per-item errors
r=$(req "${C[@]}" -d "{\"requests\":[$(S key-one),{\"key_id\":\"key-two\",\"data\":\"$D32\",\"request_id\":\"b2\"},$(S key-one ECDSA_X),$(S nope)]}" "$U/sign")
b=${r#* }
check "batch 200" eq "${r%% *}" 200
check "batch results in order" eq "$(jq -r '[.results[] | (.key_id // .error.code)] | join(",")' <<<"$b")" \
    "key-one,key-two,unknown_algorithm,key_not_allowed"
check "batch keeps request_id" eq "$(jq -r '.results[1].request_id' <<<"$b")" "b2"

# ---- mTLS matrix: each refused, and no signature made ------------------------------------------
before=$(metric anode_keyserver_hsm_sign_calls_total)
sign_with() { # CURL TLS ARGS... -> http code (000 = handshake refused)
    curl -s --cacert "$PKI/ca.crt" "$@" -o /dev/null -w '%{http_code}' -d "$(S key-one)" "$U/sign"
}
check "mTLS: no certificate refused" eq "$(sign_with)" 000
check "mTLS: other CA refused" eq "$(sign_with --cert "$PKI/other.crt" --key "$PKI/other.key")" 000
check "mTLS: expired refused" eq "$(sign_with --cert "$PKI/expired.crt" --key "$PKI/expired.key")" 000
check "mTLS: not yet valid refused" eq "$(sign_with --cert "$PKI/notyet.crt" --key "$PKI/notyet.key")" 000
check "mTLS: revoked refused" eq "$(sign_with --cert "$PKI/revoked.crt" --key "$PKI/revoked.key")" 000
check "mTLS: valid but not allowed -> 403" eq "$(sign_with --cert "$PKI/nobody.crt" --key "$PKI/nobody.key")" 403
# the server's own certificate (same CA, CN "localhost" listed in clients, serverAuth only) is
# no client certificate: refused at the handshake
check "mTLS: a serverAuth-only certificate is refused as a client" \
    eq "$(sign_with --cert "$PKI/server.crt" --key "$PKI/server.key")" 000
check "mTLS: TLS 1.1 refused" eq "$(curl -s --cacert "$PKI/ca.crt" --cert "$PKI/connector.crt" --key "$PKI/connector.key" --tls-max 1.1 -o /dev/null -w '%{http_code}' "$U/health")" 000
check "mTLS: no signature made by refused clients" eq "$(metric anode_keyserver_hsm_sign_calls_total)" "$before"

# ---- keep-alive: one connection for many requests -------------------------------------------
conns=$(curl "${C[@]}" -w '%{num_connects}\n' -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
    -d "$(S)" "$U/sign" "$U/sign" "$U/sign" "$U/sign" | paste -sd+ | bc)
check "keep-alive: 4 POST /sign over 1 connection" eq "$conns" 1
conns=$(curl "${C[@]}" -w '%{num_connects}\n' -o /dev/null -o /dev/null -o /dev/null \
    "$U/health" "$U/pubkey" "$U/metrics" | paste -sd+ | bc)
check "keep-alive: 3 GETs over 1 connection" eq "$conns" 1

# ---- concurrency: threads x signatures, each verified with libsecp256k1 ------------------------
PUB2=$(curl "${C[@]}" "$U/pubkey?key_id=key-two" | jq -r .public_key)
check "concurrency: 4 threads x 150 signatures verify" \
    "$LOAD" "$U/sign" "$PKI/ca.crt" "$PKI/connector.crt" "$PKI/connector.key" key-two "$PUB2" 4 150
check "concurrency: key-one as well (8 x 40)" \
    "$LOAD" "$U/sign" "$PKI/ca.crt" "$PKI/connector.crt" "$PKI/connector.key" key-one "$PUB1" 8 40

# ---- audit trail -------------------------------------------------------------------------------
stop_server "$SPID"
check "audit chain of the run verifies" "$AUDIT" --verify "$WORK/audit.log"
signed=$(grep -c '"outcome":"signed"' "$WORK/audit.log")
refused=$(grep -c '"outcome":"refused"' "$WORK/audit.log")
check "audit has every signature (>= 920)" test "$signed" -ge 920
check "audit has the refusals (3)" eq "$refused" 3
check "audit has the unlisted client's /sign (1)" eq "$(grep -c '"outcome":"refused_client"' "$WORK/audit.log")" 1
# the anchor logged at shutdown is the verifier's last seq and hash
anchor=$(sed -n 's/.*audit log .* ends at seq \([0-9]*\), sha256 \([0-9a-f]*\)$/last seq \1 sha256 \2/p' "$WORK/server.log")
check "shutdown logs the audit anchor, equal to audit-verify's" eq "$anchor" "$("$AUDIT" --verify "$WORK/audit.log" | tail -n1)"
# a single /sign: its decision record ("allowed", durable before the signature leaves), then its
# result record ("signed", with the latency)
check "audit record fields (decision)" bash -c "head -1 '$WORK/audit.log' | jq -e '.client_cn==\"connector\" and .key_id==\"key-one\" and .request_id==\"r-1\" and (.digest|length)==64 and (.client_fp|length)==64 and .outcome==\"allowed\"' >/dev/null"
check "audit record fields (result)" bash -c "sed -n 2p '$WORK/audit.log' | jq -e '.client_cn==\"connector\" and .key_id==\"key-one\" and .request_id==\"r-1\" and (.digest|length)==64 and .outcome==\"signed\" and .latency_us>0' >/dev/null"
sed -E '3s/"digest":"./"digest":"X/' "$WORK/audit.log" >"$WORK/edited.log"
check "audit verify detects an edited line" bash -c "! '$AUDIT' --verify '$WORK/edited.log' >/dev/null"
sed '5d' "$WORK/audit.log" >"$WORK/deleted.log"
check "audit verify detects a deleted line" bash -c "! '$AUDIT' --verify '$WORK/deleted.log' >/dev/null"
# a restart continues the chain (this time: epoll pool of 3, HSM calls on the request thread)
jq '.limits.threads=3 | .pkcs11.bounded_calls=false' "$WORK/ks.json" >"$WORK/ks2.json"
start_server "$WORK/ks2.json" "$WORK/server2.log"
U=https://127.0.0.1:$PORT
expect "sign after restart" 200 - "${C[@]}" -d "$(S)" "$U/sign"
check "pool mode, unbounded calls: 4 threads x 50 signatures verify" \
    "$LOAD" "$U/sign" "$PKI/ca.crt" "$PKI/connector.crt" "$PKI/connector.key" key-two "$PUB2" 4 50
stop_server "$SPID"
check "audit chain continues across restarts" "$AUDIT" --verify "$WORK/audit.log"

# ---- PIN from the environment: wiped and unset, not in /proc/PID/environ -------------------------
jq --arg a "$WORK/audit-env.log" '.audit.file=$a' "$WORK/env.json" >"$WORK/env2.json"
export KS_TEST_PIN=123456
start_server "$WORK/env2.json" "$WORK/server-env.log"
unset KS_TEST_PIN
U=https://127.0.0.1:$PORT
expect "pin_env: the server works" 200 - "${C[@]}" "$U/health"
check "pin_env: the PIN is not in /proc/PID/environ" \
    eq "$(tr '\0' '\n' <"/proc/$SPID/environ" | grep -c 123456)" 0
check "pin_env: the variable is gone from /proc/PID/environ" \
    eq "$(tr '\0' '\n' <"/proc/$SPID/environ" | grep -c '^KS_TEST_PIN=.')" 0

# ---- a keep-alive connection does not outlive its certificate ----------------------------------
# A certificate for "connector" that expires a few seconds from now: the first request on the
# connection passes, one sent after the expiry on the SAME connection is refused.
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/short.key"
openssl req -new -key "$WORK/short.key" -subj /CN=connector -out "$WORK/short.csr"
openssl ca -batch -notext -config "$PKI/ca.cnf" -extensions client_ext -in "$WORK/short.csr" \
    -out "$WORK/short.crt" -startdate "$(date -u -d '-1 min' +%Y%m%d%H%M%SZ)" \
    -enddate "$(date -u -d '+4 sec' +%Y%m%d%H%M%SZ)" 2>/dev/null
get="GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
out=$({ printf "$get"; sleep 7; printf "$get"; sleep 1; } |
    timeout 20 openssl s_client -quiet -connect "127.0.0.1:$PORT" -CAfile "$PKI/ca.crt" \
        -cert "$WORK/short.crt" -key "$WORK/short.key" 2>/dev/null | grep -ao 'HTTP/1\.1 [0-9]*' | paste -sd,)
check "expiring certificate: 200, then 403 on the same connection" eq "$out" "HTTP/1.1 200,HTTP/1.1 403"
stop_server "$SPID"

# ---- per-client rate limit: a token bucket; refused before the HSM, audited, counted ----------
# (1 per second: "at once" below has a second, not half of one, on a loaded machine)
jq --arg a "$WORK/audit-rate.log" '.audit.file=$a |
    .clients["cn:alice"]={"keys":["key-two"],"max_signatures_per_s":1,"burst":3}' \
    "$WORK/ks.json" >"$WORK/rate.json"
start_server "$WORK/rate.json" "$WORK/server-rate.log"
U=https://127.0.0.1:$PORT
SA() { echo "{\"key_id\":\"key-two\",\"data\":\"$D32\",\"request_id\":\"$1\"}"; }
calls=$(metric anode_keyserver_hsm_sign_calls_total)
r=$(req "${A[@]}" -d "{\"requests\":[$(SA r1),$(SA r2),$(SA r3),$(SA r4)]}" "$U/sign")
check "rate limit: a batch of 4 with a burst of 3 -> 3 signed, the 4th 429 rate_limited" \
    eq "$(jq -r '[.results[] | if .signature then "signed" else .error.code end] | join(",")' <<<"${r#* }")" \
    "signed,signed,signed,rate_limited"
expect "rate limit: the next request at once is 429" 429 rate_limited "${A[@]}" -d "$(SA r5)" "$U/sign"
check "rate limit: refused items made no HSM call" eq "$(metric anode_keyserver_hsm_sign_calls_total)" "$((calls + 3))"
expect "rate limit: another client is not limited" 200 - "${C[@]}" -d "$(S)" "$U/sign"
sleep 1.1
expect "rate limit: refilled (1 per second) after a second" 200 - "${A[@]}" -d "$(SA r6)" "$U/sign"
check "rate limit: counted" eq "$(metric anode_keyserver_sign_rate_limited_total)" 2
stop_server "$SPID"
check "rate limit: refusals audited (2 refused_rate)" \
    eq "$(grep -c '"outcome":"refused_rate"' "$WORK/audit-rate.log")" 2
check "rate limit: the audit chain verifies" "$AUDIT" --verify "$WORK/audit-rate.log"

# ---- SIGHUP reloads the TLS files: a revocation takes effect without a restart --------------------
# A second certificate for "alice" (allowed key-two): an open keep-alive connection with it gets
# 200, then the certificate is revoked and the CRL reloaded (SIGHUP), and the SAME connection's
# next request is refused (403); a new connection with it fails the handshake; other clients go
# on. A bad CRL file on reload changes nothing.
write_config "$WORK/hup.json" "$WORK/audit-hup.log"
start_server "$WORK/hup.json" "$WORK/server-hup.log"
U=https://127.0.0.1:$PORT
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/alice2.key"
openssl req -new -key "$WORK/alice2.key" -subj /CN=alice -out "$WORK/alice2.csr"
openssl ca -batch -notext -config "$PKI/ca.cnf" -extensions client_ext -in "$WORK/alice2.csr" \
    -out "$WORK/alice2.crt" 2>/dev/null
A2=(-s --cacert "$PKI/ca.crt" --cert "$WORK/alice2.crt" --key "$WORK/alice2.key")
expect "reload: alice's second certificate works before the revocation" 200 - "${A2[@]}" "$U/health"
{ printf "$get"; sleep 4; printf "$get"; sleep 1; } |
    timeout 20 openssl s_client -quiet -connect "127.0.0.1:$PORT" -CAfile "$PKI/ca.crt" \
        -cert "$WORK/alice2.crt" -key "$WORK/alice2.key" 2>/dev/null |
    grep -ao 'HTTP/1\.1 [0-9]*' | paste -sd, >"$WORK/hup-conn.out" &
conn_pid=$!
sleep 1.5
openssl ca -config "$PKI/ca.cnf" -revoke "$WORK/alice2.crt" 2>/dev/null
openssl ca -config "$PKI/ca.cnf" -gencrl -out "$WORK/crl-new.pem" 2>/dev/null
cp "$WORK/crl-new.pem" "$PKI/crl.pem"
kill -HUP "$SPID"
for _ in $(seq 50); do grep -q "SIGHUP: TLS" "$SLOG" && break; sleep 0.1; done
check "reload: the server logs the reload" grep -q "SIGHUP: TLS certificate, key, client CA and CRL reloaded" "$SLOG"
wait "$conn_pid"
check "reload: an open connection is refused after its certificate is revoked (200, then 403)" \
    eq "$(cat "$WORK/hup-conn.out")" "HTTP/1.1 200,HTTP/1.1 403"
check "reload: a new connection with the revoked certificate fails the handshake" \
    eq "$(curl "${A2[@]}" -o /dev/null -w '%{http_code}' "$U/health")" 000
expect "reload: the first alice certificate still works" 200 - "${A[@]}" "$U/health"
expect "reload: the connector signs on a new connection" 200 - "${C[@]}" -d "$(S)" "$U/sign"
printf -- '-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n' >"$PKI/crl.pem"
kill -HUP "$SPID"
for _ in $(seq 50); do grep -q "not reloaded" "$SLOG" && break; sleep 0.1; done
check "reload: a bad CRL is refused with the file named" grep -q "SIGHUP: TLS files not reloaded, the previous ones stay in force: tls.crl" "$SLOG"
check "reload: after a refused reload the revocation stays in force" \
    eq "$(curl "${A2[@]}" -o /dev/null -w '%{http_code}' "$U/health")" 000
expect "reload: after a refused reload the server still serves" 200 - "${C[@]}" -d "$(S)" "$U/sign"
cp "$WORK/crl-new.pem" "$PKI/crl.pem"
stop_server "$SPID"

# ---- audit fail closed: /dev/full -> 503, no signature returned ----------------------------------
write_config "$WORK/full.json" /dev/full 2 # the epoll thread-pool mode
start_server "$WORK/full.json" "$WORK/server3.log"
U=https://127.0.0.1:$PORT
r=$(req "${C[@]}" -d "$(S)" "$U/sign")
check "audit on /dev/full: 503 audit_unavailable" eq "${r%% *}:$(jq -r .error.code <<<"${r#* }")" "503:audit_unavailable"
check "audit on /dev/full: no signature in the reply" bash -c "! grep -q signature <<<'${r#* }'"
r=$(req "${C[@]}" -d "{\"requests\":[$(S),$(S)]}" "$U/sign")
check "audit on /dev/full: batch 503 too" eq "${r%% *}" 503
r=$(req "${A[@]}" -d "$(S key-one)" "$U/sign")
check "audit on /dev/full: a refusal that cannot be audited is 503" eq "${r%% *}" 503
# sign (1) + batch (stops at its first item: 1) + refusal (1)
check "audit failures counted" eq "$(metric anode_keyserver_audit_failures_total)" 3
check "no signature returned" eq "$(metric anode_keyserver_signatures_total)" 0
stop_server "$SPID"

# ---- HSM faults: 503 hsm_unavailable, health 503, then recovery --------------------------------
if [ -n "$FAULT" ] && [ -r "$FAULT" ]; then
    jq --arg m "$FAULT" '.pkcs11.module=$m | .pkcs11.op_timeout_ms=2000 | .limits.threads=2' \
        "$WORK/ks.json" >"$WORK/fault.json"
    export P11_FAULT_TARGET=$MODULE P11_FAULT_FILE=$WORK/fault.ctl
    echo "1 none" >"$P11_FAULT_FILE"
    start_server "$WORK/fault.json" "$WORK/server4.log"
    U=https://127.0.0.1:$PORT
    expect "fault: sign works before the fault" 200 - "${C[@]}" -d "$(S)" "$U/sign"
    echo "2 sign 0xB3 1" >"$P11_FAULT_FILE" # CKR_SESSION_HANDLE_INVALID once: retried inside
    expect "fault: one lost session is retried transparently" 200 - "${C[@]}" -d "$(S)" "$U/sign"
    echo "3 all 0xE0" >"$P11_FAULT_FILE" # CKR_TOKEN_NOT_PRESENT on every call
    expect "fault: token gone -> 503 hsm_unavailable" 503 hsm_unavailable "${C[@]}" -d "$(S)" "$U/sign"
    r=$(req "${C[@]}" -d "{\"requests\":[$(S),$(S)]}" "$U/sign")
    check "fault: batch items carry hsm_unavailable" \
        eq "$(jq -r '[.results[].error.code]|join(",")' <<<"${r#* }")" "hsm_unavailable,hsm_unavailable"
    expect "fault: health -> 503" 503 hsm_unavailable "${C[@]}" "$U/health"
    check "fault: hsm_up gauge 0" eq "$(metric anode_keyserver_hsm_up)" 0
    echo "4 none" >"$P11_FAULT_FILE"
    expect "fault: recovered, sign works again" 200 - "${C[@]}" -d "$(S)" "$U/sign"
    expect "fault: health ok again" 200 - "${C[@]}" "$U/health"
    check "fault: reconnects counted" test "$(metric anode_keyserver_hsm_reconnects_total)" -ge 1
    stop_server "$SPID"
    check "fault: HSM errors audited" test "$(grep -c '"outcome":"hsm_error"' "$WORK/audit.log")" -ge 3
    unset P11_FAULT_TARGET P11_FAULT_FILE
else
    echo "SKIP: HSM fault tests (no fault module given)"
fi

echo "test_keyserver: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
