#!/usr/bin/env bash
# Builds the Debian packages anode-keyserver (with anode-keytool) and anode-connector from this
# checkout with debian/ and dpkg-buildpackage, and puts the .deb files in OUTDIR (default
# ./out/packages). The build runs in a private copy of the tracked (and untracked, not ignored)
# files, so build directories of the work tree are not packaged and dpkg-buildpackage's output
# (written to the parent of the tree it builds) never lands beside the checkout.
# Needs deploy/bootstrap.sh's packages (debhelper, the -dev libraries). Usage: packages.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:-$ROOT/out/packages}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

work=$(mktemp -d /tmp/anode-packages.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard | grep -zv '^tests/tools/node_modules' |
    tar -C "$ROOT" --null -T - -cf - | tar -C "$work/src" -xf -

(cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -b -us -uc) \
    >"$work/build.log" 2>&1 || {
    tail -n 60 "$work/build.log"
    echo "packages.sh: dpkg-buildpackage failed" >&2
    exit 1
}
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$OUT"/
ls -1 "$OUT"/*.deb
