#!/bin/sh
# run.sh TEST_BINARY CONNECTOR_BINARY [KEYSERVER_BINARY] - test_cn_manager, then the same features through the
# anode-connector binary (profiles, ${VAR}, exit code 2 on config errors, GET /signers,
# GET /metrics checked by promtool). Every expected address comes from ethers (an independent
# implementation); SoftHSM2's public key is read with pkcs11-tool and decoded by node's crypto.
set -eu
bin=$1
cn=$2
ks=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
tools=$root/tests/tools
module=${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
dir=$(mktemp -d /tmp/cn_manager.XXXXXX)
cnpid=
cleanup() { [ -n "$cnpid" ] && kill "$cnpid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT INT TERM

sh "$root/tests/integration/connector_keyless/mkpki.sh" "$dir"
openssl rand -hex 32 > "$dir/keyA.hex"
openssl rand -hex 32 > "$dir/keyB.hex"
openssl rand -hex 24 > "$dir/token"
chmod 600 "$dir"/*.hex "$dir/token"
export NODE_PATH="$tools/node_modules"
addr() { node -e 'const e=require("ethers");
  console.log(new e.Wallet("0x"+require("fs").readFileSync(process.argv[1],"utf8").trim()).address)' "$1"; }
ADDR_A=$(addr "$dir/keyA.hex")
ADDR_B=$(addr "$dir/keyB.hex")
hd() { node -e 'const e=require("ethers");
  const m="test test test test test test test test test test test junk";
  console.log(e.HDNodeWallet.fromPhrase(m, process.argv[2] || "", process.argv[1]).address)' "$@"; }
MN_ADDR0=$(hd "m/44'/60'/0'/0/0")
MN_ADDR1=$(hd "m/44'/60'/0'/0/1")
MN_ADDR_TREZOR=$(hd "m/44'/60'/0'/0/0" TREZOR)
export ADDR_A ADDR_B MN_ADDR0 MN_ADDR1 MN_ADDR_TREZOR KS_NODE="$here/ks_node.js"

if command -v softhsm2-util >/dev/null 2>&1 && command -v pkcs11-tool >/dev/null 2>&1 &&
    [ -r "$module" ]; then
    conf=$(sh "$root/deploy/softhsm-init.sh" "$dir/hsm" cn-mgr 123456 654321 k1 01 | tail -n 1)
    export SOFTHSM2_CONF="$conf"
    printf '123456' > "$dir/pin"
    chmod 600 "$dir/pin"
    pkcs11-tool --module "$module" --token-label cn-mgr --read-object --type pubkey --id 01 \
        -o "$dir/k1.spki" >/dev/null 2>&1
    P11_ADDRESS=$(node -e '
      const c = require("crypto"), e = require("ethers"), fs = require("fs");
      const j = c.createPublicKey({ key: fs.readFileSync(process.argv[1]), format: "der", type: "spki" })
                 .export({ format: "jwk" });
      const hex = (s) => Buffer.from(s, "base64url").toString("hex");
      console.log(e.computeAddress("0x04" + hex(j.x) + hex(j.y)));' "$dir/k1.spki")
    export P11_MODULE="$module" P11_TOKEN=cn-mgr P11_PIN_FILE="$dir/pin" P11_ADDRESS
    if [ -n "$ks" ] && [ -x "$ks" ]; then
        # The real key server on the same token (started and killed by the test, by PID).
        cat > "$dir/start_ks.sh" <<SH
#!/bin/sh
port=\$1
cat > "$dir/ks-\$port.json" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": \$port},
  "tls": {"cert": "$dir/server.crt", "key": "$dir/server.key", "client_ca": "$dir/ca.crt"},
  "pkcs11": {"module": "$module", "token_label": "cn-mgr", "pin_file": "$dir/pin", "max_sessions": 4},
  "keys": {"k1": "pkcs11:token=cn-mgr;object=k1"},
  "clients": {"cn:connector": "*"},
  "audit": {"file": "$dir/audit-\$port.log", "fsync": 100},
  "limits": {"threads": 4}
}
JSON
exec "$ks" --config "$dir/ks-\$port.json" 2>>"$dir/ks-\$port.err"
SH
        export KS_START="$dir/start_ks.sh"
    fi
fi

if ! "$bin" "$dir"; then
    tail -n 20 "$dir"/ks-*.err >&2 2>/dev/null || true
    exit 1
fi

# ---- the binary: config errors exit 2 with a precise message --------------------------------
fail=0
expect_exit2() { # name needle config [args...]
    name=$1 needle=$2 cfg=$3; shift 3
    printf '%s' "$cfg" > "$dir/c.json"
    set +e
    "$cn" --config "$dir/c.json" --check-config --log-format text "$@" >"$dir/out" 2>&1
    rc=$?
    set -e
    if [ $rc -ne 2 ] || ! grep -qF -- "$needle" "$dir/out"; then
        echo "FAIL $name: exit $rc, expected 2 and \"$needle\":"; cat "$dir/out"; fail=1
    else
        echo "ok   $name"
    fi
}
kA="{\"type\":\"local\",\"key_file\":\"$dir/keyA.hex\"}"
kB="{\"type\":\"local\",\"key_file\":\"$dir/keyB.hex\"}"
expect_exit2 unknown-type 'unknown signer type "hsm"' '{"accounts":[{"signer":{"type":"hsm"}}]}'
expect_exit2 unknown-field 'unknown field "keyfile"' '{"accounts":[{"signer":{"type":"local","keyfile":"x"}}]}'
expect_exit2 missing-field 'missing required field "module"' '{"accounts":[{"primary":{"type":"pkcs11"}}]}'
expect_exit2 missing-type 'missing required field "type"' '{"accounts":[{"primary":{}}]}'
expect_exit2 different-key 'backups[0] (local' "{\"accounts\":[{\"primary\":$kA,\"backups\":[$kB]}]}"
expect_exit2 missing-var 'environment variable M5_UNSET_VAR is not set' \
    '{"accounts":[{"signer":{"type":"local","key_file":"${M5_UNSET_VAR}"}}]}'
expect_exit2 no-profile 'choose one with --profile' "{\"profiles\":{\"dev\":{\"accounts\":[{\"signer\":$kA}]}}}"
expect_exit2 bad-profile 'profile "prod" is not in the config' \
    "{\"profiles\":{\"dev\":{\"accounts\":[{\"signer\":$kA}]}}}" --profile prod
expect_exit2 account-key 'unknown field "backup"' "{\"accounts\":[{\"primary\":$kA,\"backup\":[]}]}"

# ---- profiles and ${VAR} through the binary -------------------------------------------------
cat > "$dir/p.json" <<JSON
{ "profiles": {
    "development": { "accounts": [ { "signer": { "type": "local", "key_file": "\${M5_KEYDIR}/keyA.hex" } } ] },
    "production":  { "accounts": [ { "name": "treasury",
                                     "primary": { "type": "local", "name": "p", "key_file": "$dir/keyB.hex" },
                                     "backups": [ { "type": "local", "name": "b", "key_file": "$dir/keyB.hex" } ] } ],
                     "signer_manager": { "failure_threshold": 2, "health_interval_ms": 200 } } },
  "profile": "development" }
JSON
export M5_KEYDIR="$dir"
out=$("$cn" --config "$dir/p.json" --check-config --log-format text 2>"$dir/err")
echo "$out" | grep -q "configuration OK: 1 account" && grep -q "$ADDR_A" "$dir/err" || { echo "FAIL default profile"; cat "$dir/err"; fail=1; }
ANODE_PROFILE=production "$cn" --config "$dir/p.json" --check-config --log-format text 2>"$dir/err" >/dev/null
grep -q "$ADDR_B" "$dir/err" && ! grep -q "$ADDR_A" "$dir/err" || { echo "FAIL ANODE_PROFILE"; cat "$dir/err"; fail=1; }
echo "ok   profiles and \${VAR}"

# ---- GET /signers and GET /metrics (promtool) on a running connector ------------------------
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$cn" --config "$dir/p.json" --profile production --chain-id 1 --http-port "$port" \
    --downstream-url http://127.0.0.1:1/ --log-format text 2>"$dir/cn.err" &
cnpid=$!
i=0
until curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "FAIL connector did not start"; cat "$dir/cn.err"; exit 1; }
    sleep 0.1
done
curl -sf -X POST -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"personal_sign\",\"params\":[\"0x68656c6c6f\",\"$ADDR_B\"]}" \
    "http://127.0.0.1:$port/" > "$dir/sig.json"
node -e 'const e=require("ethers"); const r=JSON.parse(require("fs").readFileSync(process.argv[1]));
  if (e.verifyMessage("hello", r.result) !== process.argv[2]) { console.error("bad signature", r); process.exit(1); }' \
    "$dir/sig.json" "$ADDR_B" || fail=1
curl -sf "http://127.0.0.1:$port/signers" > "$dir/signers.json"
node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1])); const a=j.accounts[0];
  const ok = j.accounts.length===1 && a.address===process.argv[2] && a.name==="treasury" &&
    a.signers.length===2 && a.signers[0].role==="primary" && a.signers[1].role==="backup1" &&
    a.signers.every(s => s.type==="local" && s.provider==="local" && s.security_level==="development" &&
      s.capability.can_sign===true && s.capability.max_concurrency>0 && s.health.status==="healthy" &&
      s.circuit==="closed") && a.signers[0].signatures===1;
  if (!ok) { console.error(JSON.stringify(j)); process.exit(1); }' "$dir/signers.json" "$ADDR_B" \
    && echo "ok   GET /signers" || { echo "FAIL GET /signers"; fail=1; }
curl -sf "http://127.0.0.1:$port/metrics" > "$dir/metrics.txt"
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics < "$dir/metrics.txt" && echo "ok   promtool check metrics" ||
        { echo "FAIL promtool"; fail=1; }
fi
grep -q 'anode_connector_signer_circuit_state{account="'"$ADDR_B"'",role="backup1",signer="b",type="local",state="closed"} 1' "$dir/metrics.txt" &&
grep -q 'anode_connector_signer_signatures_total{account="'"$ADDR_B"'",role="primary",signer="p",type="local"} 1' "$dir/metrics.txt" &&
grep -q 'anode_connector_signer_sign_duration_seconds_count{' "$dir/metrics.txt" \
    && echo "ok   per-signer metrics" || { echo "FAIL per-signer metrics"; grep signer_ "$dir/metrics.txt" | head; fail=1; }
kill "$cnpid"; wait "$cnpid" 2>/dev/null || true; cnpid=
if grep -qE 'Sanitizer|runtime error' "$dir/cn.err"; then
    echo "FAIL sanitizer report from the connector:"; cat "$dir/cn.err"; fail=1
fi
exit $fail
