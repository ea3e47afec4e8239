#!/usr/bin/env bash
# The man pages (docs/man/*.8, mdoc): mandoc -Tlint (warning level and up) finds nothing, and each
# page lists exactly the flags its binary's --help lists. Usage: man_check.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
SRC=$1
BUILD=$2
pass=0
fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
bad() { echo "FAIL - $*"; fail=$((fail + 1)); }

# Flags of a --help text: every -x / --long-name word. The connector's help ends with the rule
# "--foo-bar is ANODE_FOO_BAR", whose --foo-bar is a placeholder, not a flag.
help_flags() {
    grep -oE '(^|[^A-Za-z0-9_-])--?[a-z][a-z0-9-]*' | sed -E 's/^[^-]+//' | grep -vx -- '--foo-bar' |
        sort -u
}
# Flags of an mdoc page: the arguments of every Fl macro (".Fl -config" is --config).
man_flags() {
    grep -oE '(^\.|[ |])Fl [^ ]+( Fl [^ ]+)*' "$1" | grep -oE 'Fl [^ ,|]+' | sed -E 's/^Fl /-/' |
        sort -u
}

for bin in anode-keyserver anode-connector anode-keytool; do
    page=$SRC/docs/man/$bin.8
    lint=$(mandoc -Tlint -W warning "$page" 2>&1 || true)
    if [ -z "$lint" ]; then ok "$bin.8: mandoc -Tlint clean"; else bad "$bin.8: $lint"; fi

    exe=$(find "$BUILD" -type f -name "$bin" -perm -u+x | head -n 1)
    if [ -z "$exe" ]; then
        bad "$bin: not built under $BUILD"
        continue
    fi
    # anode-keytool prints its usage on stderr; the daemons on stdout.
    from_help=$("$exe" --help 2>&1 | help_flags)
    from_man=$(man_flags "$page")
    if [ "$from_help" = "$from_man" ] && [ -n "$from_help" ]; then
        ok "$bin: --help and the man page list the same $(echo "$from_help" | wc -l) flags"
    else
        bad "$bin: flags differ (< --help, > man page):"
        diff <(echo "$from_help") <(echo "$from_man") || true
    fi
done

# The negative case: a flag missing from a page must be seen.
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
grep -v -- '-chain-id' "$SRC/docs/man/anode-connector.8" >"$tmp"
if man_flags "$tmp" | grep -qx -- '--chain-id'; then
    bad "a page without --chain-id still yields --chain-id"
else
    ok "a page without --chain-id is seen to lack it"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
