#!/bin/sh
# test_keytool.sh KEYTOOL SOURCE_DIR - anode-keytool against a private SoftHSM2 token:
# generate (non-extractable, sensitive; duplicate label/id refused), list, address (checked
# against ethers' computeAddress when node is available), PIN handling (file, env, wrong PIN,
# no PIN option on the command line; the PIN file's first line, with or without CR/LF, an
# overlong PIN refused), audit-verify wiring (empty file OK, garbage refused, the anchor: last
# seq and the SHA-256 of the last line, checked with sha256sum).
set -u
kt=$1 src=$2
module=/usr/lib/softhsm/libsofthsm2.so
dir=$(mktemp -d /tmp/ak-p11-test-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail=0
check() { # check DESCRIPTION EXPECTED_RC ACTUAL_RC
    if [ "$2" != "$3" ]; then echo "FAIL: $1 (exit $3, expected $2)"; fail=1; else echo "ok: $1"; fi
}

SOFTHSM2_CONF=$("$src/deploy/softhsm-init.sh" "$dir" kt 1234 5678 k1 01) || exit 1
export SOFTHSM2_CONF
printf '1234\n' >"$dir/pin"
KT_PIN=1234
export KT_PIN
common="--module $module --token-label kt"

out=$("$kt" generate $common --pin-source "$dir/pin" --label signer2 --id 0a0b); check "generate" 0 $?
pub=$(printf '%s\n' "$out" | sed -n 's/^public_key //p')
addr=$(printf '%s\n' "$out" | sed -n 's/^address //p')
"$kt" generate $common --pin-env KT_PIN --label signer2 --id 0c >/dev/null 2>&1; check "duplicate label refused" 1 $?
"$kt" generate $common --pin-env KT_PIN --label other --id 0a0b >/dev/null 2>&1; check "duplicate id refused" 1 $?
"$kt" generate $common --pin-env KT_PIN --label x --id zz >/dev/null 2>&1; check "bad id refused" 2 $?
"$kt" list $common --pin 1234 >/dev/null 2>&1; check "no --pin option" 2 $?
"$kt" list $common >/dev/null 2>&1; check "PIN source required" 2 $?
KT_PIN=0000 "$kt" list $common --pin-env KT_PIN >/dev/null 2>&1; check "wrong PIN refused" 1 $?
"$kt" list --module $module --token-label nope --pin-env KT_PIN >/dev/null 2>&1; check "unknown token" 1 $?
printf '1234' >"$dir/pin-nonl"
"$kt" list $common --pin-source "$dir/pin-nonl" >/dev/null; check "PIN file without newline" 0 $?
printf '1234\r\nsecond line\n' >"$dir/pin-crlf"
"$kt" list $common --pin-source "$dir/pin-crlf" >/dev/null; check "PIN file: first line, CRLF" 0 $?
printf '\n1234\n' >"$dir/pin-empty"
"$kt" list $common --pin-source "$dir/pin-empty" >/dev/null 2>&1; check "PIN file with an empty first line refused" 1 $?
head -c 300 /dev/zero | tr '\0' 1 >"$dir/pin-long"
"$kt" list $common --pin-source "$dir/pin-long" >/dev/null 2>&1; check "PIN file over 256 bytes refused" 1 $?
"$kt" list $common --pin-source "$dir/no-such-pin" >/dev/null 2>&1; check "missing PIN file refused" 1 $?

list=$("$kt" list $common --pin-env KT_PIN); check "list" 0 $?
printf '%s\n' "$list" | grep -q '^label=signer2 id=0a0b type=EC curve=secp256k1$'; check "list shows the new key" 0 $?
printf '%s\n' "$list" | grep -q '^label=k1 id=01 type=EC curve=secp256k1$'; check "list shows k1" 0 $?

line=$("$kt" address $common --pin-env KT_PIN --label signer2); check "address" 0 $?
[ "$line" = "label=signer2 id=0a0b public_key=$pub address=$addr" ]; check "address matches generate" 0 $?

if command -v node >/dev/null 2>&1 && [ -d "$src/tests/tools/node_modules/ethers" ]; then
    want=$(cd "$src/tests/tools" && node -e "console.log(require('ethers').computeAddress('$pub'))")
    [ "$want" = "$addr" ]; check "address equals ethers computeAddress ($want)" 0 $?
else
    echo "note: node/ethers not available: independent address check skipped"
fi

attrs=$(pkcs11-tool --module $module --token-label kt --login --pin 1234 -O --id 0a0b --type privkey 2>/dev/null)
printf '%s\n' "$attrs" | grep -q 'sensitive' && printf '%s\n' "$attrs" | grep -q 'never extractable'
check "private key sensitive and never extractable" 0 $?

: >"$dir/empty.log"
"$kt" audit-verify "$dir/empty.log" >/dev/null; check "audit-verify empty file" 0 $?
[ "$("$kt" audit-verify "$dir/empty.log" | tail -n 1)" = "last seq 0 sha256 $(printf '%064d' 0)" ]
check "audit-verify: empty file's anchor is seq 0, zero hash" 0 $?
l1="{\"seq\":1,\"prev\":\"$(printf '%064d' 0)\"}"
l2="{\"seq\":2,\"prev\":\"$(printf '%s' "$l1" | sha256sum | cut -d' ' -f1)\"}"
printf '%s\n%s\n' "$l1" "$l2" >"$dir/two.log"
want="last seq 2 sha256 $(printf '%s' "$l2" | sha256sum | cut -d' ' -f1)"
[ "$("$kt" audit-verify "$dir/two.log" | tail -n 1)" = "$want" ]
check "audit-verify prints the anchor (last seq, sha256 of the last line)" 0 $?
printf 'garbage\n' >"$dir/bad.log"
"$kt" audit-verify "$dir/bad.log" >/dev/null 2>&1; check "audit-verify refuses garbage" 1 $?
"$kt" audit-verify >/dev/null 2>&1; check "audit-verify usage" 2 $?
"$kt" frobnicate >/dev/null 2>&1; check "unknown command" 2 $?
exit $fail
