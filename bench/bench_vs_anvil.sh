#!/usr/bin/env bash
# bench_vs_anvil.sh - eth_sign served by anode-connector with a `local` signer against anvil's own
# eth_sign with an unlocked account, same key, same message, same load, same run (issue 16:
# target >= 1.5x). Load: wrk, 16 keep-alive connections (2 threads), POST of one JSON-RPC
# eth_sign. Rounds alternate anvil / connector; the best of each is kept (a shared machine only
# ever slows a phase down). Before timing, the two answers are checked to be the same signature
# (RFC 6979 makes ECDSA deterministic: anvil is the independent reference for the connector).
#
# Usage: bench/bench_vs_anvil.sh [BUILD_DIR] [SECONDS] [ROUNDS]
#   BUILD_DIR  CMake build directory holding connector/anode-connector (default: build)
#   SECONDS    per phase (default 8); ROUNDS (default 2)
# Needs wrk and curl (deploy/bootstrap.sh) and anvil from tests/tools (bash tests/tools/install.sh).
# Starts anvil and the connector on free loopback ports, stops both by PID on exit.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$SRC/build}"
SECS="${2:-8}"
ROUNDS="${3:-2}"
CONNS=16
CONNECTOR="$BUILD/connector/anode-connector"
ANVIL="$SRC/tests/tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
# anvil's first default account (mnemonic "test test ... junk"), unlocked in anvil
KEY=ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
ADDR=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
MSG=0x$(printf 'anode-keyless bench message %04d' 7 | od -An -tx1 | tr -d ' \n')

for x in "$CONNECTOR" "$ANVIL"; do
    [ -x "$x" ] || { echo "bench_vs_anvil: missing $x" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "bench_vs_anvil: wrk not installed" >&2; exit 1; }

DIR=$(mktemp -d /tmp/ak-bench-anvil-XXXXXX)
ANVIL_PID=""
CN_PID=""
cleanup() {
    for p in $CN_PID $ANVIL_PID; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$DIR"
}
trap cleanup EXIT

free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

wait_rpc() { # url: wait up to 10 s for an answer to eth_chainId
    for _ in $(seq 1 100); do
        curl -s -m 1 -H 'Content-Type: application/json' \
            -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$1" 2>/dev/null |
            grep -q '"result"' && return 0
        sleep 0.1
    done
    return 1
}

BODY="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sign\",\"params\":[\"$ADDR\",\"$MSG\"]}"
cat >"$DIR/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$BODY'
EOF

AP=$(free_port)
"$ANVIL" --port "$AP" --host 127.0.0.1 --accounts 1 --silent >"$DIR/anvil.log" 2>&1 &
ANVIL_PID=$!
wait_rpc "http://127.0.0.1:$AP/" || { echo "bench_vs_anvil: anvil did not start" >&2; exit 1; }

printf '%s\n' "$KEY" >"$DIR/key.hex"
chmod 600 "$DIR/key.hex"
printf '{"accounts":[{"signer":{"type":"local","key_file":"%s"}}]}\n' "$DIR/key.hex" >"$DIR/cn.json"
CP=$(free_port)
"$CONNECTOR" --config "$DIR/cn.json" --http-port "$CP" --chain-id 31337 \
    --downstream-url "http://127.0.0.1:$AP/" --log-level error 2>"$DIR/connector.log" &
CN_PID=$!
wait_rpc "http://127.0.0.1:$CP/" || {
    echo "bench_vs_anvil: anode-connector did not start:" >&2
    cat "$DIR/connector.log" >&2
    exit 1
}

# The same signature from both (or the comparison means nothing).
A=$(curl -s -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$AP/")
C=$(curl -s -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$CP/")
SA=$(printf '%s' "$A" | grep -o '"result":"0x[0-9a-f]*"' || true)
SC=$(printf '%s' "$C" | grep -o '"result":"0x[0-9a-f]*"' || true)
if [ -z "$SA" ] || [ "$SA" != "$SC" ]; then
    echo "bench_vs_anvil: the answers differ: anvil $A / connector $C" >&2
    exit 1
fi

run_wrk() { # url -> requests/s (0 if any request failed at the socket or HTTP level)
    local out rps
    out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$DIR/post.lua" "$1" 2>&1)
    if printf '%s' "$out" | grep -q -e 'Non-2xx' -e 'Socket errors'; then
        echo "bench_vs_anvil: errors under load at $1:" >&2
        printf '%s\n' "$out" >&2
        echo 0
        return
    fi
    rps=$(printf '%s' "$out" | awk '/Requests\/sec/ {print $2}')
    echo "${rps:-0}"
}

best_a=0
best_c=0
load0=$(cut -d' ' -f1 /proc/loadavg)
for r in $(seq 1 "$ROUNDS"); do
    a=$(run_wrk "http://127.0.0.1:$AP/")
    c=$(run_wrk "http://127.0.0.1:$CP/")
    echo "round $r: anvil eth_sign $a req/s, connector (local signer) eth_sign $c req/s"
    best_a=$(awk -v x="$a" -v y="$best_a" 'BEGIN {print (x > y ? x : y)}')
    best_c=$(awk -v x="$c" -v y="$best_c" 'BEGIN {print (x > y ? x : y)}')
done
# The answers are still the same signature after the load.
C=$(curl -s -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$CP/")
SC=$(printf '%s' "$C" | grep -o '"result":"0x[0-9a-f]*"' || true)
[ "$SA" = "$SC" ] || { echo "bench_vs_anvil: connector answer changed: $C" >&2; exit 1; }

ratio=$(awk -v c="$best_c" -v a="$best_a" 'BEGIN {printf "%.2f", (a > 0 ? c / a : 0)}')
verdict=$(awk -v r="$ratio" 'BEGIN {print (r >= 1.5 ? "met" : "NOT met")}')
echo
echo "eth_sign, wrk $CONNS connections, best of $ROUNDS rounds of ${SECS} s, $(nproc) CPUs, load" \
    "average $load0 -> $(cut -d' ' -f1 /proc/loadavg)"
echo "anvil (unlocked account):          $best_a req/s"
echo "anode-connector (local signer):    $best_c req/s (defaults)"
echo "ratio connector / anvil:           $ratio (target >= 1.5: $verdict)"
[ "$best_a" != 0 ] && [ "$best_c" != 0 ]
