#!/usr/bin/env bash
# pki.sh - a small private PKI (OpenSSL) for anode-keyserver's mutual TLS. P-256 keys throughout
# (fast handshakes).
#
# Usage: pki.sh [--with-test-certs] DIR [CLIENT_CN...]
#   DIR/ca.crt ca.key                 the client+server CA (ca.key: keep it offline in production)
#   DIR/server.crt server.key         server certificate, SAN IP:127.0.0.1, IP:::1, DNS:localhost
#                                     (set PKI_SERVER_SAN to add entries, e.g. "DNS:ks.example")
#                                     extendedKeyUsage serverAuth only: refused as a client
#   DIR/<CN>.crt <CN>.key             one client certificate per CLIENT_CN (default: connector),
#                                     extendedKeyUsage clientAuth (the key server requires it)
#   DIR/crl.pem                       the CA's CRL (empty unless certificates were revoked)
# Refuses (exit 2) a DIR that already holds a ca.key.
# With --with-test-certs, also the certificates the test suite needs to be refused:
#   DIR/other-ca.crt, DIR/other.crt/.key  a client certificate from another CA
#   DIR/expired.crt/.key                  validity ended in the past
#   DIR/notyet.crt/.key                   validity starts in the future
#   DIR/revoked.crt/.key                  revoked, listed in DIR/crl.pem
# Revoke later with: openssl ca -config DIR/ca.cnf -revoke DIR/X.crt && \
#                    openssl ca -config DIR/ca.cnf -gencrl -out DIR/crl.pem
set -euo pipefail

test_certs=0
if [ "${1:-}" = "--with-test-certs" ]; then
    test_certs=1
    shift
fi
if [ $# -lt 1 ]; then
    echo "usage: $0 [--with-test-certs] DIR [CLIENT_CN...]" >&2
    exit 2
fi
dir=$1
shift
clients=("$@")
[ ${#clients[@]} -gt 0 ] || clients=(connector)
for cn in "${clients[@]}"; do
    case $cn in
        *[!A-Za-z0-9._-]* | "" | ca | server | other* | crl) echo "$0: bad client name '$cn'" >&2; exit 2 ;;
    esac
done

# Never regenerate a CA over an existing one: every certificate it issued would stop verifying
# (and the old ca.key would be lost). Use a fresh DIR, or issue more certificates with
# `openssl ca -config DIR/ca.cnf`.
if [ -e "$dir/ca.key" ]; then
    echo "$0: $dir/ca.key exists: refusing to replace the CA (use a new directory)" >&2
    exit 2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
umask 077
days=${PKI_DAYS:-825}

# A CA with its own database so `openssl ca` can set start/end dates and issue a CRL.
make_ca() { # NAME CN
    local name=$1 cn=$2 db=$dir/$1-db
    mkdir -p "$db/new"
    : >"$db/index.txt"
    [ -f "$db/serial" ] || openssl rand -hex 16 >"$db/serial"
    [ -f "$db/crlnumber" ] || echo 1000 >"$db/crlnumber"
    cat >"$dir/$name.cnf" <<CNF
[ ca ]
default_ca = this_ca
[ this_ca ]
dir = $db
database = $db/index.txt
new_certs_dir = $db/new
serial = $db/serial
crlnumber = $db/crlnumber
certificate = $dir/$name.crt
private_key = $dir/$name.key
default_md = sha256
default_days = $days
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = copy
[ policy_any ]
commonName = supplied
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
CNF
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$name.key"
    openssl req -new -x509 -key "$dir/$name.key" -subj "/CN=$cn" -days $((days + 365)) \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$dir/$name.crt"
}

issue() { # CA NAME CN EXT [extra openssl ca args...]
    local ca=$1 name=$2 cn=$3 ext=$4
    shift 4
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$name.key"
    openssl req -new -key "$dir/$name.key" -subj "/CN=$cn" -out "$dir/$name.csr" \
        ${PKI_REQ_SAN:+-addext "$PKI_REQ_SAN"}
    openssl ca -batch -notext -config "$dir/$ca.cnf" -extensions "$ext" -in "$dir/$name.csr" \
        -out "$dir/$name.crt" "$@" 2>/dev/null
    rm -f "$dir/$name.csr"
}

make_ca ca "anode-keyless CA"
san="subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost${PKI_SERVER_SAN:+,$PKI_SERVER_SAN}"
PKI_REQ_SAN=$san issue ca server localhost server_ext
for cn in "${clients[@]}"; do
    issue ca "$cn" "$cn" client_ext
done

if [ $test_certs = 1 ]; then
    fmt() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
    issue ca expired expired client_ext -startdate "$(fmt '-30 days')" -enddate "$(fmt '-1 day')"
    issue ca notyet notyet client_ext -startdate "$(fmt '+10 days')" -enddate "$(fmt '+40 days')"
    issue ca revoked revoked client_ext
    openssl ca -config "$dir/ca.cnf" -revoke "$dir/revoked.crt" 2>/dev/null
    make_ca other-ca "some other CA"
    issue other-ca other "${clients[0]}" client_ext # same CN as a real client: must still fail
fi
openssl ca -config "$dir/ca.cnf" -gencrl -out "$dir/crl.pem" 2>/dev/null
chmod 0644 "$dir"/*.crt "$dir/crl.pem"
echo "$dir"
