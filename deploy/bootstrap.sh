#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need. Idempotent; run as root
# (or with sudo available). Node.js and npm are expected on the machine; npm test tools are
# installed by tests/tools/install.sh into an ignored folder, never system-wide.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config git ca-certificates curl jq
    clang clang-format clang-tidy libclang-rt-14-dev llvm
    libssl-dev openssl libp11-dev libengine-pkcs11-openssl
    softhsm2 opensc libp11-kit-dev
    libmicrohttpd-dev libgnutls28-dev nettle-dev
    libcjson-dev libsecp256k1-dev libcurl4-openssl-dev
    prometheus wrk procps iproute2
    # the connector's shared state (issue 13): libpq, and the server its tests start
    libpq-dev postgresql
    # packages, man pages (tests/ops)
    debhelper lintian mandoc
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
# Node.js and npm come with the machines (not from Debian, whose npm conflicts with them);
# install Debian's only where there is none at all.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs npm)
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "bootstrap: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
