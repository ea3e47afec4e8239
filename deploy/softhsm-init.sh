#!/bin/sh
# softhsm-init.sh - create a private SoftHSM2 token with one secp256k1 key pair, for tests and demos.
#
# Usage: softhsm-init.sh DIR LABEL PIN SO_PIN KEYLABEL [ID]
#   DIR       directory to hold softhsm2.conf and tokens/ (created if missing)
#   LABEL     token label (tokens are found by label: SoftHSM assigns random slot ids)
#   PIN       user PIN, SO_PIN security-officer PIN (test tokens only: for a production token pass
#             the PINs some other way - they are visible in this process's argv)
#   KEYLABEL  label of the key pair; ID its CKA_ID in hex (default 01)
# Prints the path of the softhsm2.conf to export as SOFTHSM2_CONF. Refuses (exit 1) if a token with
# LABEL already exists under DIR. The private key is sensitive and non-extractable.
# Environment: SOFTHSM2_MODULE (default /usr/lib/softhsm/libsofthsm2.so).
set -eu

if [ $# -lt 5 ] || [ $# -gt 6 ]; then
    echo "usage: $0 DIR LABEL PIN SO_PIN KEYLABEL [ID]" >&2
    exit 2
fi
dir=$1 label=$2 pin=$3 so_pin=$4 keylabel=$5 id=${6:-01}
module=${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

case $id in
    *[!0-9a-fA-F]* | "") echo "$0: ID must be hex" >&2; exit 2 ;;
esac
for tool in softhsm2-util pkcs11-tool; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$0: $tool not found" >&2; exit 1; }
done
[ -r "$module" ] || { echo "$0: PKCS#11 module $module not found" >&2; exit 1; }

mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
conf=$dir/softhsm2.conf
umask 077
cat >"$conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
SOFTHSM2_CONF=$conf
export SOFTHSM2_CONF

if softhsm2-util --show-slots 2>/dev/null | grep -q "^ *Label: *$label *\$"; then
    echo "$0: a token labelled '$label' already exists in $dir/tokens" >&2
    exit 1
fi
softhsm2-util --init-token --free --label "$label" --pin "$pin" --so-pin "$so_pin" >/dev/null
pkcs11-tool --module "$module" --token-label "$label" --login --pin "$pin" \
    --keypairgen --key-type EC:secp256k1 --label "$keylabel" --id "$id" \
    --usage-sign --sensitive >/dev/null
echo "$conf"
