#!/usr/bin/env bash
# test_ks_intent.sh - intent-verified signing with on-prem policy (issue 11), key-server side, on
# a private SoftHSM2 token and PKI, with the connector's own client certificate used directly
# (curl): the stolen-certificate test (a key with raw_digest false refuses a digest-only request
# and every intent outside its policy, 403 policy_denied naming the rule, zero HSM calls counted
# from /metrics; signs an allowed one), the digest-mismatch test, a per-client override, batches,
# the decoded intent and request_id in the audit log, the cumulative cap across a restart and
# under 16 concurrent clients (never over, not by one wei), strict policy configuration.
# Signatures of allowed intents are checked with ethers against the digest ethers computes.
#
# Usage: test_ks_intent.sh ANODE_KEYSERVER
# Every server started here is stopped by its PID; only loopback is used.
set -uo pipefail

KS=$1
SRC=${AK_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
WORK=$(mktemp -d /tmp/ks_intent.XXXXXX)
. "$SRC/tests/integration/keyserver/ks_lib.sh"
TOOL=(node "$SRC/tests/integration/keyserver/ks_intent_tool.js")
export AK_SOURCE_DIR=$SRC

export SOFTHSM2_CONF
SOFTHSM2_CONF=$("$SRC/deploy/softhsm-init.sh" "$WORK/hsm" ksint 123456 654321 k1 01) || exit 1
"$SRC/deploy/pki.sh" --with-test-certs "$WORK/pki" connector alice >/dev/null || exit 1
PKI=$WORK/pki
printf '123456\n' >"$WORK/pin"
chmod 600 "$WORK/pin"

A=0x3535353535353535353535353535353535353535 # an allowed destination
B=0x4444444444444444444444444444444444444444 # not allowed
T=0x5555555555555555555555555555555555555555 # a token: only transfer(address,uint256)
V=0x6666666666666666666666666666666666666666 # the allowed EIP-712 verifying contract
DLG=0x7777777777777777777777777777777777777777
ETH=1000000000000000000
# a key used by 16 concurrent clients: 10 signatures of CV fit, the 11th is over by one wei
CV=1000000000000000
CCAP=$((10 * CV + CV - 1))

write_config() { # FILE
    cat >"$1" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": 0},
  "tls": {"cert": "$PKI/server.crt", "key": "$PKI/server.key", "client_ca": "$PKI/ca.crt"},
  "pkcs11": {"module": "$MODULE", "token_label": "ksint", "pin_file": "$WORK/pin",
             "max_sessions": 4},
  "keys": {
    "key-open": "pkcs11:object=k1",
    "key-locked": {"uri": "pkcs11:object=k1", "policy": {
      "raw_digest": false,
      "serves": ["eth_transaction", "eip191_message", "eip712_typed_data", "eip7702_authorization"],
      "allowed_chain_ids": [31337],
      "allowed_to": ["$A", "$T"],
      "max_value_wei": "$ETH",
      "allowed_selectors": {"$T": ["0xa9059cbb"]},
      "allowed_domains": [{"name": "Anode", "chainId": 31337, "verifyingContract": "$V"}],
      "allowed_delegates": ["$DLG"],
      "allow_hash_like_messages": true,
      "cumulative_cap": {"value_wei": "$((3 * ETH))", "window_s": 86400}}},
    "key-conc": {"uri": "pkcs11:object=k1", "policy": {
      "raw_digest": false, "cumulative_cap": {"value_wei": "$CCAP", "window_s": 3600}}}
  },
  "clients": {"cn:connector": "*",
              "cn:alice": {"keys": ["key-locked"],
                           "policies": {"key-locked": {"raw_digest": false, "max_value_wei": "1"}}}},
  "audit": {"file": "$WORK/audit.log", "fsync": "always"},
  "limits": {"max_batch": 64, "threads": 4}
}
JSON
}
write_config "$WORK/ks.json"

start_server() { # CONFIG LOG -> PORT, SPID, SLOG, U
    SLOG=$2
    "$KS" --config "$1" >"$2" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    for _ in $(seq 100); do
        PORT=$(sed -n 's/.*listening on .* port \([0-9]*\).*/\1/p' "$2" 2>/dev/null)
        [ -n "$PORT" ] && { U=https://127.0.0.1:$PORT; return 0; }
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server did not start:" >&2
    cat "$2" >&2
    exit 1
}
stop_server() {
    kill "$SPID"
    wait "$SPID"
    local rc=$?
    if [ $rc -eq 0 ] && ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$SLOG"; then ok; else
        fail "server exit $rc or sanitizer report:"
        grep -E -A20 'Sanitizer|runtime error' "$SLOG" | head -40 >&2
    fi
}

C=(-s --cacert "$PKI/ca.crt" --cert "$PKI/connector.crt" --key "$PKI/connector.key")
AL=(-s --cacert "$PKI/ca.crt" --cert "$PKI/alice.crt" --key "$PKI/alice.key")
post() { # CURL_ARGS BODY -> "STATUS BODY"
    local body
    body=$(curl "${@:1:$#-1}" -H 'Content-Type: application/json' --data-binary "${!#}" \
        -w '\n%{http_code}' "$U/sign")
    echo "$(tail -n1 <<<"$body") $(sed '$d' <<<"$body")"
}
metric() {
    curl "${C[@]}" "$U/metrics" | awk -v n="$1" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}
item() { # KEY INTENT_JSON [DATA_B64] -> a sign request
    if [ -n "${3:-}" ]; then
        jq -nc --arg k "$1" --argjson i "$2" --arg d "$3" '{key_id:$k,intent:$i,data:$d,request_id:"rq-\($k)"}'
    else
        jq -nc --arg k "$1" --argjson i "$2" '{key_id:$k,intent:$i,request_id:"rq-\($k)"}'
    fi
}
denied() { # DESCRIPTION RULE CURL_CLIENT_ARRAY_NAME BODY
    local d=$1 rule=$2 r
    local -n cl=$3
    r=$(post "${cl[@]}" "$4")
    local st=${r%% *} b=${r#* }
    if [ "$st" = 403 ] && [ "$(jq -r .error.code <<<"$b")" = policy_denied ] &&
        jq -r .error.message <<<"$b" | grep -q "policy rule $rule:"; then ok; else
        fail "$d: want 403 policy_denied naming $rule, got $st $b"
    fi
}
signed_ok() { # DESCRIPTION KEY INTENT_JSON -> checks 200 and the ethers verification
    local r st b
    r=$(post "${C[@]}" "$(item "$2" "$3")")
    st=${r%% *} b=${r#* }
    if [ "$st" != 200 ]; then fail "$1: status $st: $b"; return; fi
    if "${TOOL[@]}" verify "$3" "$(jq -r .signature <<<"$b")" "$ADDR"; then ok; else
        fail "$1: the signature does not verify over ethers' digest"
    fi
}

# ---- configuration is strict -------------------------------------------------------------------
bad_config() { # DESCRIPTION FRAGMENT JQ_FILTER
    jq "$3" "$WORK/ks.json" >"$WORK/bad.json"
    local out
    out=$("$KS" --config "$WORK/bad.json" --check-config 2>&1)
    local rc=$?
    if [ $rc -eq 2 ] && grep -qF -- "$2" <<<"$out"; then ok; else fail "$1: rc=$rc out=$out"; fi
}
bad_config "unknown policy field" "keys.key-locked.policy.max_value: unknown field" \
    '.keys["key-locked"].policy.max_value="1"'
bad_config "raw_digest not a bool" "keys.key-locked.policy.raw_digest: must be true or false" \
    '.keys["key-locked"].policy.raw_digest="no"'
bad_config "bad selector" 'allowed_selectors.0x5555555555555555555555555555555555555555[0]' \
    ".keys[\"key-locked\"].policy.allowed_selectors[\"$T\"]=[\"0xa9059c\"]"
bad_config "window of 0" "cumulative_cap.window_s: an integer" \
    '.keys["key-locked"].policy.cumulative_cap.window_s=0'
bad_config "chain id 0" "allowed_chain_ids[0]" '.keys["key-locked"].policy.allowed_chain_ids=[0]'
bad_config "unknown domain member" "allowed_domains[0].salt: unknown field" \
    '.keys["key-locked"].policy.allowed_domains=[{"salt":"0x00"}]'
bad_config "override with a cumulative cap" "a cumulative cap belongs to the key" \
    '.clients["cn:alice"].policies["key-locked"].cumulative_cap={"value_wei":"1","window_s":5}'
bad_config "override of an unknown key" "policies.nope: unknown key id" \
    '.clients["cn:alice"].policies.nope={}'
bad_config "unknown key member" "keys.key-open.pin: unknown field" \
    '.keys["key-open"]={"uri":"pkcs11:object=k1","pin":"1"}'

# ---- the server --------------------------------------------------------------------------------
start_server "$WORK/ks.json" "$WORK/server.log"
ADDR=$(curl "${C[@]}" "$U/pubkey?key_id=key-locked" | jq -r .address)
check "GET /health advertises the intent kinds" \
    eq "$(curl "${C[@]}" "$U/health" | jq -c .intents)" \
    '["eth_transaction","eip191_message","eip712_typed_data","erc4337_paymaster","eip7702_authorization","op_block_payload"]'

# every existing request stays valid on a key without a policy
D32=$(head -c 32 /dev/urandom | base64)
r=$(post "${C[@]}" "{\"key_id\":\"key-open\",\"data\":\"$D32\"}")
check "digest-only on a key without policy: 200" eq "${r%% *}" 200

# ---- the stolen-certificate test: the connector's certificate, used directly --------------------
calls0=$(metric anode_keyserver_hsm_sign_calls_total)
denied "digest-only on a raw_digest:false key" raw_digest_not_allowed C \
    "{\"key_id\":\"key-locked\",\"data\":\"$D32\"}"
denied "wrong chain" chain_not_allowed C "$(item key-locked "$("${TOOL[@]}" tx 2 1 $A 1)")"
denied "to not allowed" to_not_allowed C "$(item key-locked "$("${TOOL[@]}" tx 2 31337 $B 1)")"
denied "value over the cap" value_over_cap C \
    "$(item key-locked "$("${TOOL[@]}" tx 2 31337 $A $((2 * ETH)))")"
APPROVE=0x095ea7b3$(printf '%064d' 0)$(printf '%064d' 1)
TRANSFER=0xa9059cbb$(printf '%064d' 0)$(printf '%064d' 1)
denied "selector not allowed" selector_not_allowed C \
    "$(item key-locked "$("${TOOL[@]}" tx 2 31337 $T 0 "$APPROVE")")"
denied "domain not allowed" domain_not_allowed C \
    "$(item key-locked "$("${TOOL[@]}" typed Evil 31337 $V)")"
denied "delegate not allowed" delegate_not_allowed C \
    "$(item key-locked '{"kind":"eip7702_authorization","chain_id":"0x7a69","address":"0x8888888888888888888888888888888888888888","nonce":"0x0"}')"
denied "chain-0 authorization" authorization_any_chain C \
    "$(item key-locked "{\"kind\":\"eip7702_authorization\",\"chain_id\":\"0x0\",\"address\":\"$DLG\",\"nonce\":\"0x0\"}")"
denied "kind not served" kind_not_served C \
    "$(item key-locked '{"kind":"op_block_payload","domain":"0x0000000000000000000000000000000000000000000000000000000000000000","chain_id":"0x7a69","payload_hash":"0x1111111111111111111111111111111111111111111111111111111111111111"}')"
denied "client override (alice: max 1 wei)" value_over_cap AL \
    "$(item key-locked "$("${TOOL[@]}" tx 2 31337 $A 2)")"
check "no HSM call for any refusal" eq "$(metric anode_keyserver_hsm_sign_calls_total)" "$calls0"

# allowed intents sign; ethers verifies them over its own digest
signed_ok "allowed type-2 transfer (1 ETH)" key-locked "$("${TOOL[@]}" tx 2 31337 $A $ETH)"
signed_ok "allowed token transfer (selector listed)" key-locked "$("${TOOL[@]}" tx 2 31337 $T 0 "$TRANSFER")"
signed_ok "allowed legacy EIP-155" key-locked "$("${TOOL[@]}" tx 0 31337 $A 5)"
signed_ok "allowed type-1" key-locked "$("${TOOL[@]}" tx 1 31337 $A 0)"
signed_ok "allowed type-3 (blob)" key-locked "$("${TOOL[@]}" tx 3 31337 $A 0)"
signed_ok "allowed type-4 (set code)" key-locked "$("${TOOL[@]}" tx 4 31337 $A 0)"
signed_ok "allowed typed data" key-locked "$("${TOOL[@]}" typed Anode 31337 $V)"
signed_ok "allowed authorization" key-locked \
    "{\"kind\":\"eip7702_authorization\",\"chain_id\":\"0x7a69\",\"address\":\"$DLG\",\"nonce\":\"0x3\"}"
signed_ok "allowed message" key-locked '{"kind":"eip191_message","message":"0x68656c6c6f"}'
signed_ok "op block on a key without policy" key-open \
    '{"kind":"op_block_payload","domain":"0x0000000000000000000000000000000000000000000000000000000000000000","chain_id":"0xa","payload_hash":"0x1111111111111111111111111111111111111111111111111111111111111111"}'
signed_ok "paymaster sponsorship on a key without policy" key-open \
    '{"kind":"erc4337_paymaster","user_operation":{"sender":"0x3535353535353535353535353535353535353535","nonce":"0x5","callData":"0xb61d27f6","callGasLimit":"0x186a0","verificationGasLimit":"0x30d40","preVerificationGas":"0xc350","maxFeePerGas":"0x77359400","maxPriorityFeePerGas":"0x3b9aca00","paymasterVerificationGasLimit":"0x249f0","paymasterPostOpGasLimit":"0x0"},"entry_point":"0x0000000071727De22E5E9d8BAf0edAc6f37da032","paymaster":"0x2222222222222222222222222222222222222222","chain_id":"0x7a69","valid_until":"0x70dbd880","valid_after":"0x0"}'
check "one HSM call per allowed intent" eq "$(metric anode_keyserver_hsm_sign_calls_total)" "$((calls0 + 11))"

# ---- the mismatch test: an intent to A sent with the digest of a transaction to B --------------
TO_A=$("${TOOL[@]}" tx 2 31337 $A 1)
TO_B=$("${TOOL[@]}" tx 2 31337 $B 1)
calls1=$(metric anode_keyserver_hsm_sign_calls_total)
r=$(post "${C[@]}" "$(item key-open "$TO_A" "$("${TOOL[@]}" digest "$TO_B")")")
check "mismatch: 400 digest_mismatch" eq "${r%% *} $(jq -r .error.code <<<"${r#* }")" "400 digest_mismatch"
check "mismatch: no HSM call" eq "$(metric anode_keyserver_hsm_sign_calls_total)" "$calls1"
check "mismatch: audited" grep -q '"outcome":"digest_mismatch"' "$WORK/audit.log"
r=$(post "${C[@]}" "$(item key-open "$TO_A" "$("${TOOL[@]}" digest "$TO_A")")")
check "the matching digest with its intent: 200" eq "${r%% *}" 200
r=$(post "${C[@]}" "$(item key-open '{"kind":"eth_transaction","payload":"0x02c0","extra":1}')")
check "unknown intent member: 400 bad_intent naming it" \
    eq "${r%% *} $(jq -r .error.code <<<"${r#* }") $(jq -r .error.message <<<"${r#* }" | grep -c 'intent.extra')" "400 bad_intent 1"

# ---- batch: one allowed and one refused item ----------------------------------------------------
batch=$(jq -nc --argjson a "$(item key-locked "$("${TOOL[@]}" tx 2 31337 $A 1)")" \
    --argjson b "$(item key-locked "$("${TOOL[@]}" tx 2 31337 $B 1)")" '{requests:[$a,$b]}')
r=$(post "${C[@]}" "$batch")
check "batch: 200, one signature, one policy_denied to_not_allowed" \
    eq "${r%% *} $(jq -c '[.results[0].signature != null, .results[1].error.code]' <<<"${r#* }")" \
    '200 [true,"policy_denied"]'

# ---- the audit log carries the decoded intent and the request_id --------------------------------
rec=$(grep '"outcome":"signed"' "$WORK/audit.log" | grep '"tx_type":2' | head -1)
check "audit: decoded transaction" eq \
    "$(jq -c '[.request_id, .intent.kind, .intent.chain_id, .intent.to, .intent.value, (.from|ascii_downcase)]' <<<"$rec")" \
    "[\"rq-key-locked\",\"eth_transaction\",\"31337\",\"$A\",\"$ETH\",\"$(tr 'A-F' 'a-f' <<<"$ADDR")\"]"
check "audit: the refusal names the rule" \
    grep -q '"outcome":"refused_policy","latency_us":[0-9]*,"rule":"to_not_allowed"' "$WORK/audit.log"
check "audit: typed-data domain" grep -q '"domain":{"hash":"0x[0-9a-f]*","name":"Anode"' "$WORK/audit.log"
check "audit: selector" grep -q '"selector":"0xa9059cbb"' "$WORK/audit.log"

# ---- cumulative cap (3 ETH per 24 h): 1 ETH + 5 wei + 1 wei used so far ------------------------
signed_ok "cumulative: another 1 ETH" key-locked "$("${TOOL[@]}" tx 2 31337 $A $ETH)"
LEFT=$((3 * ETH - 2 * ETH - 6))
signed_ok "cumulative: exactly up to the cap" key-locked "$("${TOOL[@]}" tx 2 31337 $A $LEFT)"
denied "cumulative: one wei more" cumulative_over_cap C "$(item key-locked "$("${TOOL[@]}" tx 2 31337 $A 1)")"
r=$(post "${C[@]}" "$(item key-locked "$("${TOOL[@]}" tx 2 31337 $A 0)")")
check "cumulative: a zero-value transaction still signs" eq "${r%% *}" 200
stop_server

# ---- a restart never resets a cap: rebuilt from the audit log -----------------------------------
start_server "$WORK/ks.json" "$WORK/server2.log"
calls2=$(metric anode_keyserver_hsm_sign_calls_total)
denied "after restart: one wei more is still over" cumulative_over_cap C \
    "$(item key-locked "$("${TOOL[@]}" tx 2 31337 $A 1)")"
check "after restart: no HSM call" eq "$(metric anode_keyserver_hsm_sign_calls_total)" "$calls2"

# ---- 16 concurrent clients, 48 requests of CV: exactly 10 fit under the cap ---------------------
CONC=$(item key-conc "$("${TOOL[@]}" tx 2 31337 $A $CV)")
printf '%s\n' "$CONC" >"$WORK/conc.json"
seq 48 | xargs -P 16 -I{} curl "${C[@]}" -o /dev/null -w '%{http_code}\n' \
    -H 'Content-Type: application/json' --data-binary @"$WORK/conc.json" "$U/sign" >"$WORK/codes.txt"
check "concurrent: exactly 10 signed (cap = 10 values + value - 1 wei)" \
    eq "$(grep -c '^200$' "$WORK/codes.txt") $(grep -c '^403$' "$WORK/codes.txt")" "10 38"
stop_server
start_server "$WORK/ks.json" "$WORK/server3.log"
denied "concurrent: still full after a restart" cumulative_over_cap C "$CONC"
stop_server

check "audit chain verifies" "$(dirname "$KS")/keytool/anode-keytool" audit-verify "$WORK/audit.log"

echo "test_ks_intent: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
