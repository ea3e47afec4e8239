#!/usr/bin/env bash
# include_cycles.sh DIR - fail when the modules under DIR include each other in a circle.
# A module is a file name without its extension (cn_rpc.c + cn_rpc.h); module A depends on B when
# a file of A has #include "B.h" and B.h is under DIR. tsort(1) reports any loop.
# Usage: tests/tools/include_cycles.sh connector   (exit 0: no cycle; 1: cycle, printed)
set -euo pipefail
dir=${1:?usage: include_cycles.sh DIR}
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
# "from to" for every quoted include of a header that exists under DIR; every module is a node.
find "$dir" -name '*.[ch]' -print0 | xargs -0 grep -H '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' |
    awk -v headers="$(find "$dir" -name '*.h' -printf '%f\n')" '
        BEGIN { n = split(headers, h, "\n"); for (i = 1; i <= n; i++) local[h[i]] = 1 }
        {
            file = $0; sub(/:.*/, "", file); sub(/.*\//, "", file); sub(/\.[ch]$/, "", file)
            inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc); sub(/.*\//, "", inc)
            print file, file
            if ((inc in local) && inc != file ".h") { to = inc; sub(/\.h$/, "", to); print file, to }
        }' >"$edges"
if ! out=$(tsort "$edges" 2>&1 >/dev/null) || [[ -n $out ]]; then
    echo "include cycle under $dir:" >&2
    echo "$out" >&2
    exit 1
fi
echo "no include cycle under $dir ($(sort -u "$edges" | awk '$1 != $2' | wc -l) include edges)"
