#!/bin/sh
# mkpki.sh DIR - a throw-away PKI for the keyless tests (openssl CLI): ca, server (127.0.0.1),
# client (connector), and a client certificate from ANOTHER CA that the server must refuse.
set -eu
d=$1
cd "$d"
q() { "$@" >/dev/null 2>&1; }
mk_ca() { q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$2" -keyout "$1.key" -out "$1.crt"; }
mk_leaf() { # name cn ca ext
    q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
        -keyout "$1.key" -out "$1.csr"
    printf '%s\n' "$4" > "$1.ext"
    q openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -days 2 \
        -extfile "$1.ext" -out "$1.crt"
}
mk_ca ca "test ca"
mk_ca otherca "other ca"
mk_leaf server "keyserver" ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
mk_leaf client "connector" ca "extendedKeyUsage=clientAuth"
mk_leaf rogue "rogue" otherca "extendedKeyUsage=clientAuth"
chmod 600 ./*.key
