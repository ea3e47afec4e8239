#!/usr/bin/env bash
# Installs the npm test tools (anvil, cast, ethers, viem, the ERC-4337 contracts, AWS's SigV4
# signer) into tests/tools/node_modules. They are independent judges for the tests, never part
# of the product. Idempotent: does nothing when the installed set matches package.json.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.anode-stamp
want=$(sha256sum package.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
# npm ci can fail on a lockfile made on another platform (STACK-NOTES); npm install works.
npm install --no-audit --no-fund --loglevel=error
test -x node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
test -x node_modules/@foundry-rs/cast-linux-amd64/bin/cast
echo "$want" > "$stamp"
