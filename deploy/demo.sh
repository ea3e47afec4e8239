#!/usr/bin/env bash
# demo.sh - the whole product on one machine, in the foreground (the README's first command).
#
# On a fresh Debian 12 machine, as root, from the repository:   bash deploy/demo.sh
#   1. installs the Debian packages (deploy/bootstrap.sh) and the npm test tools that provide
#      anvil and cast (tests/tools/install.sh);
#   2. builds anode-keyserver, anode-connector and anode-keytool (build/release, cmake + make);
#   3. makes a fresh .demo/ (gitignored): a SoftHSM2 token with a secp256k1 key (random PINs,
#      deploy/softhsm-init.sh), a private PKI (deploy/pki.sh), the key server and connector configs;
#   4. starts anode-keyserver (mutual TLS, 127.0.0.1:8443), anvil (--accounts 0: it cannot sign for
#      anyone, 127.0.0.1:8545) and anode-connector (keyless signer, 127.0.0.1:9000);
#   5. funds the HSM-backed address on anvil (anvil_setBalance) and prints it with example curl and
#      cast commands;
#   6. waits; Ctrl-C (or SIGTERM, or any of the three exiting) stops everything it started, by PID.
# Re-running starts from a new .demo/. Logs: .demo/logs/. Everything listens on loopback only.
# Environment: DEMO_KS_PORT (8443), DEMO_ANVIL_PORT (8545), DEMO_PORT (9000), DEMO_BUILD_DIR
# (build/release), DEMO_SKIP_BUILD=1 (use the binaries already in DEMO_BUILD_DIR).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO=$ROOT/.demo
BUILD=${DEMO_BUILD_DIR:-$ROOT/build/release}
KS_PORT=${DEMO_KS_PORT:-8443}
ANVIL_PORT=${DEMO_ANVIL_PORT:-8545}
CN_PORT=${DEMO_PORT:-9000}
TOOLS=$ROOT/tests/tools/node_modules/@foundry-rs
ANVIL=$TOOLS/anvil-linux-amd64/bin/anvil
CAST=$TOOLS/cast-linux-amd64/bin/cast
MODULE=${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

pids=()
stopping=0
# shellcheck disable=SC2317  # called from the traps
cleanup() {
    [ "$stopping" = 1 ] && return
    stopping=1
    trap - INT TERM EXIT
    if [ ${#pids[@]} -gt 0 ]; then
        say "stopping (PIDs ${pids[*]})"
        for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
        for _ in $(seq 50); do
            alive=0
            for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
            [ "$alive" = 0 ] && break
            sleep 0.1
        done
        for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
        wait "${pids[@]}" 2>/dev/null || true
    fi
    say "stopped; .demo/ is kept until the next run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_until() { # SECONDS WHAT COMMAND...
    local n=$(($1 * 10)) what=$2
    shift 2
    for _ in $(seq "$n"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "$what did not come up (see $DEMO/logs/)"
}
rpc() { # URL METHOD PARAMS-JSON
    curl -sS --max-time 5 -H 'content-type: application/json' \
        -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":$3}" "$1"
}

# 1. dependencies
say "installing dependencies (deploy/bootstrap.sh, tests/tools/install.sh)"
bash "$ROOT/deploy/bootstrap.sh"
bash "$ROOT/tests/tools/install.sh"

# 2. build
if [ "${DEMO_SKIP_BUILD:-0}" != 1 ]; then
    say "building into $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAK_WERROR=ON >/dev/null
    make -C "$BUILD" -j "$(nproc)" anode-keyserver anode-connector anode-keytool >/dev/null
fi
KS=$BUILD/keyserver/anode-keyserver
CN=$BUILD/connector/anode-connector
KT=$BUILD/keyserver/keytool/anode-keytool
for exe in "$KS" "$CN" "$KT"; do
    [ -x "$exe" ] || die "the build did not produce $exe"
done

for p in "$KS_PORT" "$ANVIL_PORT" "$CN_PORT"; do
    port_free "$p" || die "port $p on 127.0.0.1 is in use (another demo still running?)"
done

# 3. a fresh .demo/: token, PKI, configs
rm -rf "$DEMO"
mkdir -p "$DEMO/logs"
chmod 700 "$DEMO"
umask 077
pin=$(openssl rand -hex 8)
so_pin=$(openssl rand -hex 8)
printf '%s' "$pin" >"$DEMO/pin"
say "creating a SoftHSM2 token with a secp256k1 key in .demo/hsm"
SOFTHSM2_CONF=$(sh "$ROOT/deploy/softhsm-init.sh" "$DEMO/hsm" anode-demo "$pin" "$so_pin" demo-key 01 |
    tail -n 1)
export SOFTHSM2_CONF
unset pin so_pin
say "making the PKI in .demo/pki (CA, key server and connector certificates)"
bash "$ROOT/deploy/pki.sh" "$DEMO/pki" connector >/dev/null

cat >"$DEMO/keyserver.json" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": $KS_PORT},
  "tls": {"cert": "$DEMO/pki/server.crt", "key": "$DEMO/pki/server.key",
          "client_ca": "$DEMO/pki/ca.crt", "crl": "$DEMO/pki/crl.pem"},
  "pkcs11": {"module": "$MODULE", "token_label": "anode-demo", "pin_file": "$DEMO/pin"},
  "keys": {"demo-key": "pkcs11:token=anode-demo;object=demo-key"},
  "clients": {"cn:connector": ["demo-key"]},
  "audit": {"file": "$DEMO/audit.log", "fsync": "always"}
}
JSON
cat >"$DEMO/connector.json" <<JSON
{
  "accounts": [
    {"signer": {"type": "keyless", "name": "demo-hsm", "urls": ["https://127.0.0.1:$KS_PORT"],
                "key_id": "demo-key", "client_cert": "$DEMO/pki/connector.crt",
                "client_key": "$DEMO/pki/connector.key", "ca": "$DEMO/pki/ca.crt",
                "timeout_ms": 5000}}
  ]
}
JSON

# 4. the three processes
say "starting anode-keyserver (mTLS) on 127.0.0.1:$KS_PORT"
"$KS" --config "$DEMO/keyserver.json" 2>"$DEMO/logs/keyserver.log" &
pids+=($!)
wait_until 20 anode-keyserver grep -q 'listening on' "$DEMO/logs/keyserver.log"

say "starting anvil --accounts 0 on 127.0.0.1:$ANVIL_PORT"
"$ANVIL" --accounts 0 --host 127.0.0.1 --port "$ANVIL_PORT" >"$DEMO/logs/anvil.log" 2>&1 &
pids+=($!)
wait_until 20 anvil rpc "http://127.0.0.1:$ANVIL_PORT" eth_chainId '[]'

say "starting anode-connector (keyless signer) on 127.0.0.1:$CN_PORT"
"$CN" --config "$DEMO/connector.json" --http-host 127.0.0.1 --http-port "$CN_PORT" \
    --downstream-url "http://127.0.0.1:$ANVIL_PORT" --log-format text \
    2>"$DEMO/logs/connector.log" &
pids+=($!)
wait_until 20 anode-connector curl -sf "http://127.0.0.1:$CN_PORT/health"

# 5. fund the HSM-backed address, print how to use it
URL=http://127.0.0.1:$CN_PORT
ADDR=$(rpc "$URL" eth_accounts '[]' | jq -r '.result[0]')
case $ADDR in 0x????????????????????????????????????????) ;; *) die "eth_accounts failed" ;; esac
rpc "http://127.0.0.1:$ANVIL_PORT" anvil_setBalance "[\"$ADDR\",\"0x3635c9adc5dea00000\"]" >/dev/null
BAL=$("$CAST" balance --ether --rpc-url "$URL" "$ADDR")

cat <<EOF

  anode-keyless demo is running (Ctrl-C stops everything).

  HSM-backed address: $ADDR   (balance on anvil: $BAL ETH)
  JSON-RPC endpoint:  $URL  (anode-connector -> anode-keyserver -> SoftHSM2; other calls -> anvil)
  logs:               $DEMO/logs/   audit trail: $DEMO/audit.log

  Try, in another terminal:

  curl -s $URL -H 'content-type: application/json' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_accounts","params":[]}'

  curl -s $URL -H 'content-type: application/json' \\
    -d '{"jsonrpc":"2.0","id":2,"method":"personal_sign","params":["0x68656c6c6f","$ADDR"]}'

  $CAST send --unlocked --from $ADDR \\
    --rpc-url $URL 0x000000000000000000000000000000000000dEaD --value 0.1ether

  $CAST balance --ether --rpc-url $URL 0x000000000000000000000000000000000000dEaD

  $KT audit-verify $DEMO/audit.log

  SOFTHSM2_CONF=$SOFTHSM2_CONF $KT address \\
    --module $MODULE --token-label anode-demo --pin-source $DEMO/pin

  (anvil holds no keys of its own: eth_accounts on http://127.0.0.1:$ANVIL_PORT is [])

EOF

# 6. foreground until Ctrl-C or until one of them exits
set +e
wait -n "${pids[@]}"
say "a process exited (see $DEMO/logs/); stopping the others"
exit 1
