#!/usr/bin/env bash
# test_ks_security.sh - anode-keyserver attacked on who gets in (issue 18, key-server parts):
# CRLs verified at start-up and on SIGHUP (forged, foreign, expired, future-dated: refused, the
# previous CRL stays in force and a revoked certificate stays revoked), tls.crl_required, secret
# files with loose permissions or another owner refused, certificates with several CNs refused,
# and certificates from an intermediate CA accepted only when the intermediate is pinned in
# tls.client_issuers.
#
# Usage: test_ks_security.sh ANODE_KEYSERVER
# Every server started here is stopped by its PID; only loopback is used.
set -uo pipefail

KS=$1
SRC=${AK_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
WORK=$(mktemp -d /tmp/ks_sec.XXXXXX)
. "$SRC/tests/integration/keyserver/ks_lib.sh"

# ---- token and PKI ---------------------------------------------------------------------------
export SOFTHSM2_CONF
SOFTHSM2_CONF=$("$SRC/deploy/softhsm-init.sh" "$WORK/hsm" kssec 123456 654321 k1 01) || exit 1
"$SRC/deploy/pki.sh" --with-test-certs "$WORK/pki" connector alice >/dev/null || exit 1
PKI=$WORK/pki
printf '123456\n' >"$WORK/pin"
chmod 600 "$WORK/pin"
cp "$PKI/crl.pem" "$WORK/crl-good.pem" # lists "revoked"
utc() { date -u -d "$1" +%Y%m%d%H%M%SZ; }

write_config() { # FILE
    cat >"$1" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": 0},
  "tls": {"cert": "$PKI/server.crt", "key": "$PKI/server.key",
          "client_ca": "$PKI/ca.crt", "crl": "$WORK/crl.pem"},
  "pkcs11": {"module": "$MODULE", "token_label": "kssec", "pin_file": "$WORK/pin",
             "max_sessions": 2},
  "keys": {"key-one": "pkcs11:object=k1"},
  "clients": {"cn:connector": "*", "cn:alice": "*", "cn:evil": "*"},
  "audit": {"file": "$WORK/audit.log", "fsync": "always"}
}
JSON
}
write_config "$WORK/ks.json"
cp "$WORK/crl-good.pem" "$WORK/crl.pem"

start_server() { # CONFIG LOG -> sets PORT, SPID, SLOG, U
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
stop_server() { # PID: SIGTERM, then a clean exit (0) and no sanitizer report in its log
    kill "$1"
    wait "$1"
    local rc=$?
    if [ $rc -eq 0 ] && ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$SLOG"; then
        ok
    else
        fail "server exit $rc or sanitizer report in $SLOG:"
        grep -E -A20 'Sanitizer|runtime error' "$SLOG" | head -40 >&2
    fi
}
# The daemon itself (not --check-config) must refuse to start: exit 2, message with FRAGMENTS.
refuses_start() { # DESCRIPTION CONFIG FRAGMENT...
    local d=$1 cfg=$2 out rc
    shift 2
    out=$(timeout 20 "$KS" --config "$cfg" 2>&1)
    rc=$?
    for f in "$@"; do
        grep -qF -- "$f" <<<"$out" || { fail "$d: rc=$rc, no '$f' in: $out"; return; }
    done
    if [ $rc -eq 2 ]; then ok; else fail "$d: exit $rc (want 2): $out"; fi
}
cert_args() { echo "-s --cacert $PKI/ca.crt --cert $1.crt --key $1.key"; }
code() { # CERT_BASE URL [curl args] -> HTTP status (000: the handshake failed)
    local b=$1 u=$2
    shift 2
    # shellcheck disable=SC2046
    curl $(cert_args "$b") -o "$WORK/body" -w '%{http_code}' "$@" "$u"
}
S() { echo "{\"key_id\":\"key-one\",\"data\":\"$(head -c 32 /dev/urandom | base64)\"}"; }
metric() { # NAME (with labels) -> value (0 if absent)
    # shellcheck disable=SC2046
    curl $(cert_args "$PKI/connector") "$U/metrics" |
        awk -v n="$1" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}

# ---- bad CRLs, made as an attacker or a careless operator would --------------------------------
# forged: signed by another key in a certificate that copies the CA's name; empty (it would
# un-revoke "revoked")
mkdir -p "$WORK/forge/new" && : >"$WORK/forge/index.txt" && echo 01 >"$WORK/forge/crlnumber"
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/forge/ca.key"
openssl req -new -x509 -key "$WORK/forge/ca.key" -subj "/CN=anode-keyless CA" -days 30 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$WORK/forge/ca.crt"
sed -e "s|^dir = .*|dir = $WORK/forge|" -e "s|^database = .*|database = $WORK/forge/index.txt|" \
    -e "s|^crlnumber = .*|crlnumber = $WORK/forge/crlnumber|" \
    -e "s|^certificate = .*|certificate = $WORK/forge/ca.crt|" \
    -e "s|^private_key = .*|private_key = $WORK/forge/ca.key|" "$PKI/ca.cnf" >"$WORK/forge/ca.cnf"
openssl ca -config "$WORK/forge/ca.cnf" -gencrl -out "$WORK/crl-forged.pem" 2>/dev/null
check "the forged CRL names the real CA as its issuer" \
    eq "$(openssl crl -in "$WORK/crl-forged.pem" -noout -issuer)" "$(openssl x509 -in "$PKI/ca.crt" -noout -subject | sed 's/^subject/issuer/')"
# another CA's CRL
openssl ca -config "$PKI/other-ca.cnf" -gencrl -out "$WORK/crl-foreign.pem" 2>/dev/null
# the real CA's, expired (nextUpdate yesterday) and future-dated (thisUpdate in 2 days)
openssl ca -config "$PKI/ca.cnf" -gencrl -crl_lastupdate "$(utc '-10 days')" \
    -crl_nextupdate "$(utc '-1 day')" -out "$WORK/crl-expired.pem" 2>/dev/null
openssl ca -config "$PKI/ca.cnf" -gencrl -crl_lastupdate "$(utc '+2 days')" \
    -crl_nextupdate "$(utc '+30 days')" -out "$WORK/crl-future.pem" 2>/dev/null
for f in forged foreign expired future; do
    [ -s "$WORK/crl-$f.pem" ] || { echo "could not make the $f CRL" >&2; exit 1; }
done
REASON_forged="signature does not verify"
REASON_foreign="not issued by a CA of tls.client_ca"
REASON_expired="it has expired (nextUpdate"
REASON_future="dated in the future (thisUpdate"
# GnuTLS finds a forged CRL's issuer by name: the signature check is what fails. Accept either
# reason for it (a GnuTLS that also matches key identifiers says "not issued").
reason() { local v=REASON_$1; echo "${!v}"; }

# ---- CRLs at start-up: exit 2 naming the file and the reason -----------------------------------
for f in forged foreign expired future; do
    cp "$WORK/crl-$f.pem" "$WORK/crl.pem"
    out=$(timeout 20 "$KS" --config "$WORK/ks.json" 2>&1)
    rc=$?
    if [ $rc -eq 2 ] && grep -qF "tls.crl: \"$WORK/crl.pem\"" <<<"$out" &&
        { grep -qF "$(reason "$f")" <<<"$out" ||
            { [ $f = forged ] && grep -qF "$REASON_foreign" <<<"$out"; }; }; then
        ok
    else
        fail "start-up with the $f CRL: rc=$rc out=$out"
    fi
done
cp "$WORK/crl-good.pem" "$WORK/crl.pem"
check "start-up: the CA's own CRL is accepted" "$KS" --config "$WORK/ks.json" --check-config

# crl_required: a CRL must be configured, and cover every CA of client_ca
jq 'del(.tls.crl) | .tls.crl_required=true' "$WORK/ks.json" >"$WORK/req.json"
refuses_start "crl_required without a CRL" "$WORK/req.json" "tls.crl: missing (tls.crl_required is true)"
cat "$PKI/ca.crt" "$PKI/other-ca.crt" >"$WORK/two-cas.crt"
jq --arg c "$WORK/two-cas.crt" '.tls.client_ca=$c | .tls.crl_required=true' "$WORK/ks.json" >"$WORK/req2.json"
refuses_start "crl_required: a CA of client_ca without a CRL" "$WORK/req2.json" "has no CRL for CA 2 of tls.client_ca"
jq '.tls.crl_required="yes"' "$WORK/ks.json" >"$WORK/req3.json"
refuses_start "crl_required must be a boolean" "$WORK/req3.json" "tls.crl_required: must be true or false"
jq '.tls.crl_required=true' "$WORK/ks.json" >"$WORK/req4.json"
check "crl_required with the CA's CRL starts" "$KS" --config "$WORK/req4.json" --check-config

# ---- CRLs on SIGHUP: each bad one refused, logged, counted; the revocation stays ---------------
start_server "$WORK/ks.json" "$WORK/server-hup.log"
check "before any reload: the revoked certificate fails the handshake" eq "$(code "$PKI/revoked" "$U/health")" 000
check "before any reload: the connector is served" eq "$(code "$PKI/connector" "$U/health")" 200
n=0
for f in forged foreign expired future; do
    cp "$WORK/crl-$f.pem" "$WORK/crl.pem"
    n=$((n + 1))
    kill -HUP "$SPID"
    for _ in $(seq 50); do [ "$(grep -c 'not reloaded' "$SLOG")" -ge $n ] && break; sleep 0.1; done
    line=$(grep 'not reloaded' "$SLOG" | sed -n "${n}p")
    if grep -qF "the previous ones stay in force: tls.crl: \"$WORK/crl.pem\"" <<<"$line" &&
        { grep -qF "$(reason "$f")" <<<"$line" ||
            { [ $f = forged ] && grep -qF "$REASON_foreign" <<<"$line"; }; }; then
        ok
    else
        fail "SIGHUP with the $f CRL: log line '$line'"
    fi
    check "after the refused $f CRL: the revoked certificate still fails the handshake" \
        eq "$(code "$PKI/revoked" "$U/health")" 000
    check "after the refused $f CRL: the connector still signs" \
        eq "$(code "$PKI/connector" "$U/sign" -d "$(S)")" 200
done
check "refused reloads counted" eq "$(metric 'anode_keyserver_tls_reload_total{result="error"}')" 4
cp "$WORK/crl-good.pem" "$WORK/crl.pem"
kill -HUP "$SPID"
for _ in $(seq 50); do grep -q "CRL reloaded" "$SLOG" && break; sleep 0.1; done
check "a good CRL reloads" grep -q "TLS certificate, key, client CA and CRL reloaded" "$SLOG"
check "good reloads counted" eq "$(metric 'anode_keyserver_tls_reload_total{result="ok"}')" 1
check "after the good reload: revoked still refused" eq "$(code "$PKI/revoked" "$U/health")" 000
stop_server "$SPID"

# ---- secret files: group/world access or another owner stops the server ------------------------
chmod 644 "$WORK/pin"
refuses_start "a world-readable PIN file" "$WORK/ks.json" "pkcs11.pin_file: \"$WORK/pin\"" "mode 0644"
chmod 640 "$WORK/pin"
refuses_start "a group-readable PIN file" "$WORK/ks.json" "pkcs11.pin_file: \"$WORK/pin\"" "mode 0640"
out=$("$KS" --config "$WORK/ks.json" --check-config 2>&1)
check "--check-config refuses it too" eq "$?:$(grep -c 'pkcs11.pin_file' <<<"$out")" "2:1"
jq '.allow_insecure_secret_files=true' "$WORK/ks.json" >"$WORK/insecure.json"
check "allow_insecure_secret_files: the 0640 PIN file is accepted" "$KS" --config "$WORK/insecure.json" --check-config
jq '.allow_insecure_secret_files="yes"' "$WORK/ks.json" >"$WORK/bad.json"
refuses_start "allow_insecure_secret_files must be a boolean" "$WORK/bad.json" "allow_insecure_secret_files: must be true or false"
chmod 600 "$WORK/pin"
if [ "$(id -u)" = 0 ]; then
    chown 65534 "$WORK/pin"
    refuses_start "a PIN file owned by another user" "$WORK/ks.json" "pkcs11.pin_file: \"$WORK/pin\" is owned by uid 65534"
    chown 0 "$WORK/pin"
else
    echo "SKIP: PIN file owned by another user (needs root to chown)"
fi
cp "$PKI/server.key" "$WORK/server.key"
chmod 604 "$WORK/server.key"
jq --arg k "$WORK/server.key" '.tls.key=$k' "$WORK/ks.json" >"$WORK/key.json"
refuses_start "a world-readable TLS key" "$WORK/key.json" "tls.key: \"$WORK/server.key\"" "mode 0604"
check "the server's own PIN and key (0600) pass" "$KS" --config "$WORK/ks.json" --check-config

# ---- certificates with several CNs, and from an intermediate CA --------------------------------
cat >"$WORK/ext.cnf" <<'CNF'
[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[ inter ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
CNF
issue() { # NAME SUBJECT CA_BASE EXT
    openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/$1.key"
    openssl req -new -key "$WORK/$1.key" -subj "$2" -out "$WORK/$1.csr"
    openssl x509 -req -in "$WORK/$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial \
        -days 30 -extfile "$WORK/ext.cnf" -extensions "$4" -out "$WORK/$1.crt" 2>/dev/null
}
issue multi1 "/CN=connector/CN=evil" "$PKI/ca" client
issue multi2 "/CN=evil/CN=connector" "$PKI/ca" client
issue inter "/CN=anode intermediate" "$PKI/ca" inter
issue ileaf "/CN=connector" "$WORK/inter" client
cat "$WORK/inter.crt" >>"$WORK/ileaf.crt" # the client sends its chain: leaf, then intermediate
issue direct "/CN=alice" "$PKI/ca" client

start_server "$WORK/ks.json" "$WORK/server-id.log"
for m in multi1 multi2; do
    check "$m: two CNs -> 403 on /sign" eq "$(code "$WORK/$m" "$U/sign" -d "$(S)")" 403
    check "$m: the reason is given" grep -q "more than one subject CN" "$WORK/body"
done
check "several CNs: logged by fingerprint" \
    eq "$(grep -c 'tls: client certificate sha256:[0-9a-f]* refused: the client certificate has more than one subject CN' "$SLOG")" 2
check "an intermediate's certificate is refused by default (403)" \
    eq "$(code "$WORK/ileaf" "$U/sign" -d "$(S)")" 403
check "... with the reason" grep -q "not issued directly by a CA of tls.client_ca" "$WORK/body"
check "a certificate issued directly by the root works" eq "$(code "$WORK/direct" "$U/sign" -d "$(S)")" 200
check "no signature was made for a refused certificate" \
    eq "$(metric anode_keyserver_signatures_total)" 1
stop_server "$SPID"

jq --arg i "$WORK/inter.crt" '.tls.client_issuers=$i' "$WORK/ks.json" >"$WORK/pinned.json"
start_server "$WORK/pinned.json" "$WORK/server-pin.log"
check "client_issuers = the intermediate: its certificate signs" \
    eq "$(code "$WORK/ileaf" "$U/sign" -d "$(S)")" 200
check "client_issuers = the intermediate: one from the root is refused" \
    eq "$(code "$WORK/direct" "$U/sign" -d "$(S)")" 403
check "... with the reason" grep -q "not issued directly by a CA of tls.client_issuers" "$WORK/body"
stop_server "$SPID"

cat "$PKI/ca.crt" "$WORK/inter.crt" >"$WORK/both.crt"
jq --arg i "$WORK/both.crt" '.tls.client_issuers=$i' "$WORK/ks.json" >"$WORK/both.json"
start_server "$WORK/both.json" "$WORK/server-both.log"
check "client_issuers = root + intermediate: the intermediate's certificate" \
    eq "$(code "$WORK/ileaf" "$U/sign" -d "$(S)")" 200
check "client_issuers = root + intermediate: the root's certificate" \
    eq "$(code "$WORK/direct" "$U/sign" -d "$(S)")" 200
stop_server "$SPID"

jq --arg i "$PKI/other-ca.crt" '.tls.client_issuers=$i' "$WORK/ks.json" >"$WORK/bad.json"
refuses_start "client_issuers outside client_ca" "$WORK/bad.json" "tls.client_issuers: certificate 1 of" "does not verify against tls.client_ca"
jq --arg i "$PKI/connector.crt" '.tls.client_issuers=$i' "$WORK/ks.json" >"$WORK/bad.json"
refuses_start "client_issuers naming a leaf" "$WORK/bad.json" "is not a CA"
jq '.tls.client_issuers="/nonexistent.pem"' "$WORK/ks.json" >"$WORK/bad.json"
refuses_start "client_issuers missing" "$WORK/bad.json" "tls.client_issuers: cannot read"

echo "test_ks_security: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
