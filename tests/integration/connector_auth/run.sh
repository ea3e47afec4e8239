#!/bin/sh
# run.sh TEST_BINARY - make fresh fixtures with node (independent of our code), run the test.
set -eu
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/cn_auth.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM
NODE_PATH="$here/../../tools/node_modules" node "$here/gen_jwts.js" "$dir"
"$bin" "$dir"
