#!/bin/sh
# run_real.sh TEST_BINARY KEYSERVER_BINARY - test_cn_keyless against the real anode-keyserver:
# SoftHSM2 token from deploy/softhsm-init.sh, PKI from deploy/pki.sh, key server over mTLS.
# The expected address is computed independently: pkcs11-tool reads the public key from the
# token, node's crypto decodes the SubjectPublicKeyInfo, ethers.computeAddress makes the address.
set -eu
bin=$1
ks=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
tools=$root/tests/tools
module=${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
dir=$(mktemp -d /tmp/cn_keyless_real.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM

bash "$root/deploy/pki.sh" --with-test-certs "$dir" connector >/dev/null
# Names test_cn_keyless expects.
ln -s connector.crt "$dir/client.crt"; ln -s connector.key "$dir/client.key"
ln -s other.crt "$dir/rogue.crt"; ln -s other.key "$dir/rogue.key"
ln -s other-ca.crt "$dir/otherca.crt"

conf=$(sh "$root/deploy/softhsm-init.sh" "$dir/hsm" cn-keyless 123456 654321 k1 01 | tail -n 1)
export SOFTHSM2_CONF="$conf"
printf '123456' > "$dir/pin"
chmod 600 "$dir/pin"

pkcs11-tool --module "$module" --token-label cn-keyless --read-object --type pubkey --id 01 \
    -o "$dir/k1.spki" >/dev/null 2>&1
export NODE_PATH="$tools/node_modules"
KS_ADDRESS=$(node -e '
  const c = require("crypto"), e = require("ethers"), fs = require("fs");
  const j = c.createPublicKey({ key: fs.readFileSync(process.argv[1]), format: "der", type: "spki" })
             .export({ format: "jwk" });
  if (j.crv !== "secp256k1") throw new Error("not secp256k1");
  const hex = (s) => Buffer.from(s, "base64url").toString("hex");
  console.log(e.computeAddress("0x04" + hex(j.x) + hex(j.y)));' "$dir/k1.spki")

# One key server per port: the test picks ports and starts/stops the servers by PID (exec).
cat > "$dir/start_ks.sh" <<SH
#!/bin/sh
port=\$1
cat > "$dir/ks-\$port.json" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": \$port},
  "tls": {"cert": "$dir/server.crt", "key": "$dir/server.key", "client_ca": "$dir/ca.crt"},
  "pkcs11": {"module": "$module", "token_label": "cn-keyless", "pin_file": "$dir/pin",
             "max_sessions": 4},
  "keys": {"k1": "pkcs11:token=cn-keyless;object=k1"},
  "clients": {"cn:connector": "*"},
  "audit": {"file": "$dir/audit-\$port.log", "fsync": 100},
  "limits": {"threads": 4}
}
JSON
exec "$ks" --config "$dir/ks-\$port.json" 2>>"$dir/ks-\$port.err"
SH
chmod +x "$dir/start_ks.sh"

export KS_ADDRESS KS_KEY_ID=k1 KS_ARGV="$dir/start_ks.sh %PORT%"
if ! "$bin" "$dir"; then
    tail -n 20 "$dir"/ks-*.err >&2 || true
    exit 1
fi
