#!/bin/sh
# run.sh TEST_BINARY - test_cn_remote against the node mocks (vault_mock.mjs, cf_mock.mjs,
# mpc_mock.mjs) over real TLS on 127.0.0.1, with fresh keys, tokens and certificates.
# The test binary starts and stops every mock itself, by PID.
set -eu
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
tools=$(cd "$here/../../tools" && pwd)
dir=$(mktemp -d /tmp/cn_remote.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM
"$here/mkcert.sh" "$dir"
for f in key.hex key2.hex; do openssl rand -hex 32 > "$dir/$f"; done
for f in vault_token vault_secret_id cf_token mpc_secret k8s_jwt; do openssl rand -hex 24 > "$dir/$f"; done
echo wrong-token-value > "$dir/bad_secret"
chmod 600 "$dir"/*.hex "$dir"/*_token "$dir"/*_secret* "$dir/bad_secret" "$dir/k8s_jwt"
export NODE_PATH="$tools/node_modules"
# Addresses by an independent tool (ethers), compared with what the signers derive.
addr() { node -e 'const e=require("ethers");
  console.log(new e.Wallet("0x"+require("fs").readFileSync(process.argv[1],"utf8").trim()).address)' "$1"; }
REMOTE_ADDRESS=$(addr "$dir/key.hex")
REMOTE_ADDRESS2=$(addr "$dir/key2.hex")
export REMOTE_ADDRESS REMOTE_ADDRESS2 REMOTE_MOCKS="$here"
"$bin" "$dir"
