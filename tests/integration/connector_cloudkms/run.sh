#!/bin/sh
# run.sh TEST_BINARY - test_cn_cloudkms against gcp_server.mjs and azure_server.mjs over real TLS
# on 127.0.0.1, with fresh secp256k1 keys, RSA service-account / client-certificate keys and TLS
# certificates; then every signature the signers returned is checked by ethers
# (verify_sigs.mjs). The test binary starts and stops every stand-in itself, by PID.
set -eu
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
tools=$(cd "$here/../../tools" && pwd)
dir=$(mktemp -d /tmp/cn_cloudkms.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM
"$here/../connector_remote/mkcert.sh" "$dir"
q() { "$@" >/dev/null 2>&1; }
cd "$dir"
for f in key.hex key2.hex; do openssl rand -hex 32 > "$f"; done
openssl rand -hex 24 > az_secret
openssl rand -hex 16 > az_identity_header
# Google service-account keys (PKCS#8, as Google issues them) and Azure client certificates.
q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out gcp_sa.pem
q openssl pkey -in gcp_sa.pem -pubout -out gcp_sa.pub.pem
q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out gcp_sa_other.pem
q openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=anode test sp" -keyout az_key.pem -out az_cert.pem
cat az_key.pem az_cert.pem > az_combined.pem
q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out az_other_key.pem
cat az_other_key.pem az_cert.pem > az_mismatch.pem
chmod 600 ./*.hex ./*.pem az_secret az_identity_header
export NODE_PATH="$tools/node_modules"
addr() { node -e 'const e=require("ethers");
  console.log(new e.Wallet("0x"+require("fs").readFileSync(process.argv[1],"utf8").trim()).address)' "$1"; }
CLOUD_ADDRESS=$(addr key.hex)
CLOUD_ADDRESS2=$(addr key2.hex)
export CLOUD_ADDRESS CLOUD_ADDRESS2 CLOUD_MOCKS="$here"
"$bin" "$dir"
node "$here/verify_sigs.mjs" "$dir/sigs.json" "$CLOUD_ADDRESS"
