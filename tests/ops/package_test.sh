#!/usr/bin/env bash
# Issue 14, Debian packages: build them (deploy/packages.sh), lintian (no error), dpkg -i,
# check what they installed (binaries, users, conffiles 0640 root:<daemon>, units, man pages),
# create a SoftHSM token and keys with the packaged anode-keytool, adapt the packaged example
# configurations to it, start both daemons from /usr/bin as their system users, sign once
# through the connector (eth_sign, judged by ethers' verifyMessage), then dpkg --purge and check
# that nothing is left (users, groups, /etc/anode-keyless, the state directory, statoverrides).
# Runs as root (CI is root); exits 77 (skipped) otherwise. Refuses to run where the packages are
# already installed (it would purge someone's installation). Prints "N passed, N failed".
# Usage: package_test.sh SOURCE_DIR
set -euo pipefail
SRC=$(cd "$1" && pwd)
NODE_MODULES=$SRC/tests/tools/node_modules
pass=0
fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
bad() { echo "FAIL - $*"; fail=$((fail + 1)); }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}

if [ "$(id -u)" -ne 0 ]; then
    echo "package_test: needs root (dpkg -i, system users); skipped"
    exit 77
fi
for tool in dpkg-buildpackage dh lintian softhsm2-util jq curl node openssl setpriv; do
    command -v "$tool" >/dev/null || { echo "package_test: $tool missing (deploy/bootstrap.sh)"; exit 1; }
done
for p in anode-keyserver anode-connector; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'installed'; then
        echo "package_test: $p is already installed here; not touching it"
        exit 1
    fi
done

work=$(mktemp -d /tmp/anode-pkgtest.XXXXXX)
chmod 0755 "$work"
pids=()
installed=0
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$installed" = 1 ]; then dpkg --purge anode-connector anode-keyserver >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
free_port() {
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
wait_http() { # wait_http URL CURL-ARGS... : up to 20 s
    local url=$1
    shift
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "$@" "$url" && return 0
        sleep 0.2
    done
    return 1
}

# ---- build, lint -------------------------------------------------------------------------------
t0=$(date +%s)
bash "$SRC/deploy/packages.sh" "$work/out" >/dev/null
ks_deb=$(ls "$work"/out/anode-keyserver_*.deb)
cn_deb=$(ls "$work"/out/anode-connector_*.deb)
ok "packages built in $(($(date +%s) - t0)) s: $(basename "$ks_deb") $(basename "$cn_deb")"
want_version=$(sed -nE 's/^project\(anode-keyless VERSION ([0-9.]+).*/\1/p' "$SRC/CMakeLists.txt")
check "package version is the project's ($want_version)" \
    test "$(dpkg-deb -f "$ks_deb" Version)" = "$want_version"
if lintian --fail-on error "$work"/out/*.deb >"$work/lintian.log" 2>&1; then
    ok "lintian: no error ($(grep -c '^[WI]:' "$work/lintian.log" || true) warnings/info)"
else
    bad "lintian reports errors:"
    grep '^E:' "$work/lintian.log" || cat "$work/lintian.log"
fi

# ---- install ------------------------------------------------------------------------------------
installed=1
dpkg -i "$ks_deb" "$cn_deb" >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; bad "dpkg -i"; exit 1; }
ok "dpkg -i anode-keyserver anode-connector"
for b in anode-keyserver anode-keytool anode-connector; do
    check "/usr/bin/$b installed and runs (--help)" sh -c "/usr/bin/$b --help"
done
check "anode-keyserver --version is the package's" \
    sh -c "/usr/bin/anode-keyserver --version | grep -qx 'anode-keyserver $want_version'"
for d in keyserver connector; do
    u=anode-$d
    check "system user and group $u" sh -c "getent passwd $u | grep -q ':/nonexistent:/usr/sbin/nologin$' && getent group $u"
    check "/etc/anode-keyless/$d.json is a conffile, root:$u 0640" \
        sh -c "dpkg-query -W -f='\${Conffiles}' $u | grep -q /etc/anode-keyless/$d.json &&
               test \"\$(stat -c '%U:%G %a' /etc/anode-keyless/$d.json)\" = 'root:$u 640'"
    check "unit /lib/systemd/system/$u.service uses /usr/bin and /etc/anode-keyless" \
        sh -c "grep -q '^ExecStart=/usr/bin/$u --config /etc/anode-keyless/$d.json' /lib/systemd/system/$u.service &&
               ! grep -q '/usr/local\|/etc/anode/' /lib/systemd/system/$u.service"
    check "man page $u(8) installed" test -f "/usr/share/man/man8/$u.8.gz"
done
check "man page anode-keytool(8) installed" test -f /usr/share/man/man8/anode-keytool.8.gz
check "/var/lib/anode-keyserver is anode-keyserver's, 0700" \
    test "$(stat -c '%U %a' /var/lib/anode-keyserver)" = "anode-keyserver 700"

# ---- a token, keys (packaged anode-keytool), PKI -----------------------------------------------
module=/usr/lib/softhsm/libsofthsm2.so
mkdir -p "$work/hsm/tokens"
printf 'directories.tokendir = %s/hsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$work" >"$work/hsm/softhsm2.conf"
export SOFTHSM2_CONF=$work/hsm/softhsm2.conf
softhsm2-util --init-token --free --label anode --pin 1234 --so-pin 5678 >/dev/null
printf '1234\n' >"$work/pin"
gen_out=$(anode-keytool generate --module $module --token-label anode --pin-source "$work/pin" \
    --label paymaster-key-001 --id 01)
anode-keytool generate --module $module --token-label anode --pin-source "$work/pin" \
    --label relayer-key-001 --id 02 >/dev/null
address=$(echo "$gen_out" | sed -n 's/^address //p')
check "anode-keytool generated keys (address $address)" test -n "$address"
chown -R anode-keyserver:anode-keyserver "$work/hsm"
chown anode-keyserver:anode-keyserver "$work/pin"
chmod 0400 "$work/pin"

bash "$SRC/deploy/pki.sh" "$work/pki" connector-eu-1 >/dev/null 2>&1
chmod 0755 "$work/pki"
# secret files: the daemon's own, 0600 (both daemons refuse anything looser)
chown anode-keyserver:anode-keyserver "$work/pki/server.key"
chown anode-connector:anode-connector "$work/pki/connector-eu-1.key"
chmod 0600 "$work/pki/server.key" "$work/pki/connector-eu-1.key"
chmod 0644 "$work/pki/"*.crt "$work/pki/crl.pem"

# ---- adapt the packaged example configurations (in place: operators edit these files) --------
ks_port=$(free_port)
cn_port=$(free_port)
edit_conf() { # edit_conf FILE JQ-FILTER: keeps the file's owner and mode
    jq "${@:3}" "$2" "$1" >"$work/conf.tmp"
    cat "$work/conf.tmp" >"$1"
}
# The example's paymaster key serves sponsorships only (raw_digest false); the test signs one
# personal message with it, which the connector sends as an eip191_message intent.
edit_conf /etc/anode-keyless/keyserver.json '
    .listen = {address: "127.0.0.1", port: ($port | tonumber)}
  | .tls = {cert: ($pki + "/server.crt"), key: ($pki + "/server.key"),
            client_ca: ($pki + "/ca.crt"), crl: ($pki + "/crl.pem")}
  | .pkcs11.pin_file = $pin
  | .clients = {"cn:connector-eu-1": ["paymaster-key-001", "relayer-key-001"]}
  | .keys["paymaster-key-001"].policy.serves += ["eip191_message"]' \
    --arg port "$ks_port" --arg pki "$work/pki" --arg pin "$work/pin"
printf 'pkgtest-bearer-token-0123456789\n' >"$work/tokens"
chown anode-connector:anode-connector "$work/tokens"
chmod 0600 "$work/tokens"
edit_conf /etc/anode-keyless/connector.json '
    .accounts[0].signer.urls = ["https://127.0.0.1:" + $port]
  | .accounts[0].signer.client_cert = ($pki + "/connector-eu-1.crt")
  | .accounts[0].signer.client_key = ($pki + "/connector-eu-1.key")
  | .accounts[0].signer.ca = ($pki + "/ca.crt")
  | .auth = {bearer_tokens_file: $tokens}' \
    --arg port "$ks_port" --arg pki "$work/pki" --arg tokens "$work/tokens"
check "the adapted configurations kept root:<daemon> 0640" \
    test "$(stat -c '%U:%G %a' /etc/anode-keyless/keyserver.json /etc/anode-keyless/connector.json | tr '\n' ' ')" \
    = "root:anode-keyserver 640 root:anode-connector 640 "

# ---- start both daemons from /usr/bin as their users ------------------------------------------
# setpriv execs the daemon, so $! is the daemon's own PID (stopped by PID below).
as_user() { local u=$1; echo setpriv --reuid="$u" --regid="$u" --init-groups --reset-env --; }
check "anode-keyserver --check-config (as anode-keyserver)" \
    $(as_user anode-keyserver) env SOFTHSM2_CONF="$SOFTHSM2_CONF" \
    /usr/bin/anode-keyserver --config /etc/anode-keyless/keyserver.json --check-config
$(as_user anode-keyserver) env SOFTHSM2_CONF="$SOFTHSM2_CONF" \
    /usr/bin/anode-keyserver --config /etc/anode-keyless/keyserver.json >"$work/ks.log" 2>&1 &
pids+=($!)
TLS=(--cacert "$work/pki/ca.crt" --cert "$work/pki/connector-eu-1.crt" --key "$work/pki/connector-eu-1.key")
if wait_http "https://127.0.0.1:$ks_port/health" "${TLS[@]}"; then
    ok "anode-keyserver serves /health on 127.0.0.1:$ks_port"
else
    bad "anode-keyserver did not start:"
    cat "$work/ks.log"
    exit 1
fi
ks_addr=$(curl -s "${TLS[@]}" "https://127.0.0.1:$ks_port/pubkey?key_id=paymaster-key-001" | jq -r .address)
check "key server's /pubkey address is keytool's" test "$ks_addr" = "$address"

$(as_user anode-connector) /usr/bin/anode-connector --config /etc/anode-keyless/connector.json \
    --http-host 127.0.0.1 --http-port "$cn_port" --chain-id 31337 \
    --downstream-url "http://127.0.0.1:$(free_port)/" >"$work/cn.log" 2>&1 &
pids+=($!)
if wait_http "http://127.0.0.1:$cn_port/health"; then
    ok "anode-connector serves /health on 127.0.0.1:$cn_port"
else
    bad "anode-connector did not start:"
    cat "$work/cn.log"
    exit 1
fi

# ---- sign once -----------------------------------------------------------------------------------
rpc() {
    curl -s -H 'Content-Type: application/json' -H 'Authorization: Bearer pkgtest-bearer-token-0123456789' \
        "http://127.0.0.1:$cn_port/" -d "$1"
}
accounts=$(rpc '{"jsonrpc":"2.0","id":1,"method":"eth_accounts"}' | jq -r '.result[0]')
check "eth_accounts is the HSM key's address" test "$accounts" = "$address"
sig=$(rpc '{"jsonrpc":"2.0","id":2,"method":"personal_sign","params":["0x7061636b61676564","'"$address"'"]}' |
    jq -r .result)
recovered=$(cd "$NODE_MODULES/.." && node -e '
    const { verifyMessage, getBytes } = require("ethers");
    console.log(verifyMessage(getBytes("0x7061636b61676564"), process.argv[1]));' "$sig" 2>&1 || true)
check "personal_sign through connector -> key server -> SoftHSM recovers to $address (ethers)" \
    test "$recovered" = "$address"
unauth=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    "http://127.0.0.1:$cn_port/" -d '{"jsonrpc":"2.0","id":3,"method":"eth_accounts"}')
check "a request without the bearer token is refused (401)" test "$unauth" = 401
check "the audit log has the signature and its chain verifies (anode-keytool audit-verify)" \
    sh -c "grep -q '\"outcome\":\"signed\"' /var/lib/anode-keyserver/audit.log &&
           anode-keytool audit-verify /var/lib/anode-keyserver/audit.log"

for pid in "${pids[@]}"; do kill "$pid"; done
stopped=0
for pid in "${pids[@]}"; do wait "$pid" && stopped=$((stopped + 1)) || true; done
pids=()
check "both daemons stopped cleanly on SIGTERM (exit 0)" test "$stopped" = 2

# ---- purge ----------------------------------------------------------------------------------------
dpkg --purge anode-connector anode-keyserver >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; bad "dpkg --purge"; }
installed=0
ok "dpkg --purge anode-connector anode-keyserver"
for u in anode-keyserver anode-connector; do
    check "user and group $u removed" sh -c "! getent passwd $u && ! getent group $u"
    check "package $u unknown to dpkg" sh -c "! dpkg-query -W -f='\${Status}' $u 2>/dev/null | grep -q installed"
done
check "/etc/anode-keyless removed" test ! -e /etc/anode-keyless
check "/var/lib/anode-keyserver removed" test ! -e /var/lib/anode-keyserver
check "no statoverride left" sh -c "! dpkg-statoverride --list | grep -q anode-keyless"
check "binaries removed" sh -c "! ls /usr/bin/anode-* 2>/dev/null | grep -q ."

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
