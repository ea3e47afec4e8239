#!/usr/bin/env bash
# include_cycles.sh DIR - fail when the modules under DIR include each other in a circle.
# A module is a file name without its extension (cn_rpc.c + cn_rpc.h); module A depends on B when
# a file of A has #include "B.h" and B.h is under DIR. tsort(1) reports any loop.
# Usage: tests/tools/include_cycles.sh connector   (exit 0: no cycle; 1: cycle, printed)
set -euo pipefail
dir=${1:?usage: include_cycles.sh DIR}
declare -A local_header=()
while IFS= read -r h; do local_header[$(basename "$h")]=1; done < <(find "$dir" -name '*.h')
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
while IFS= read -r f; do
    from=$(basename "$f"); from=${from%.*}
    echo "$from $from" >>"$edges" # every module is a node, even without edges
    while IFS= read -r inc; do
        [[ -n ${local_header[$inc]:-} ]] || continue
        to=${inc%.h}
        [[ $to == "$from" ]] || echo "$from $to" >>"$edges"
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
        xargs -r -n1 basename)
done < <(find "$dir" -name '*.[ch]')
if ! out=$(tsort "$edges" 2>&1 >/dev/null) || [[ -n $out ]]; then
    echo "include cycle under $dir:" >&2
    echo "$out" >&2
    exit 1
fi
echo "no include cycle under $dir ($(sort -u "$edges" | wc -l) edges)"
