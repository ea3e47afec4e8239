#!/bin/sh
# run_mock.sh TEST_BINARY - test_cn_keyless against ks_mock.js (node https + mTLS, secp256k1
# signatures from @noble/curves), with a fresh PKI from openssl and a fresh random key.
set -eu
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
tools=$(cd "$here/../../tools" && pwd)
dir=$(mktemp -d /tmp/cn_keyless.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM
"$here/mkpki.sh" "$dir"
openssl rand -hex 32 > "$dir/key.hex"
export NODE_PATH="$tools/node_modules"
# The address by an independent tool (ethers), to compare with what the signer derives.
KS_ADDRESS=$(node -e 'const e=require("ethers");
  console.log(new e.Wallet("0x"+require("fs").readFileSync(process.argv[1],"utf8").trim()).address)' "$dir/key.hex")
export KS_ADDRESS KS_KEY_ID=test-key-1 KS_MOCK=1 KS_ARGV="node $here/ks_mock.js %PORT% $dir"
"$bin" "$dir"
