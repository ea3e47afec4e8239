#!/bin/sh
# mkcert.sh DIR - throw-away TLS material for the connector_remote mocks (openssl CLI): a CA,
# a server certificate for 127.0.0.1 signed by it, and an unrelated CA the client must not accept.
set -eu
cd "$1"
q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=remote test ca" \
    -keyout ca.key -out ca.crt
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=other ca" \
    -keyout otherca.key -out otherca.crt
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=remote mock" \
    -keyout server.key -out server.csr
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
q openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
    -out server.crt
chmod 600 ./*.key
