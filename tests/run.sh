#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run call it, on a fresh Debian 12 machine:
#   1. install the Debian packages (deploy/bootstrap.sh) and the npm test tools;
#   2. build with -Werror and run every ctest test (unit, hsm, e2e);
#   3. build again with ASan+UBSan and run the whole suite again;
#   4. check formatting (clang-format) and run clang-tidy over the C sources;
#   5. build the libFuzzer targets with clang and give each a short smoke run.
# Environment: AK_FUZZ_SECONDS (default 30) per fuzz target; AK_SKIP_ASAN=1 / AK_SKIP_FUZZ=1 to
# shorten a local run (CI sets neither).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc)
FUZZ_SECONDS=${AK_FUZZ_SECONDS:-30}
step() { printf '\n==== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "dependencies"
bash deploy/bootstrap.sh
bash tests/tools/install.sh

run_suite() { # $1 build dir, rest: cmake options
    local dir=$1
    shift
    cmake -S "$ROOT" -B "$dir" -DAK_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS"
    (cd "$dir" && ctest --output-on-failure --timeout 900 -j "$JOBS")
}

step "build + test (release)"
run_suite "$ROOT/build/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${AK_SKIP_ASAN:-0}" != 1 ]; then
    step "build + test (ASan+UBSan)"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run_suite "$ROOT/build/asan" -DCMAKE_BUILD_TYPE=Debug -DAK_SANITIZE=ON
fi

step "clang-format (check)"
mapfile -t SOURCES < <(git ls-files '*.c' '*.h' | grep -E '^(shared|runtime|store|pkcs11|keyserver|connector|tests|bench)/')
clang-format --dry-run --Werror "${SOURCES[@]}"
echo "clang-format: ${#SOURCES[@]} files clean"

step "clang-tidy"
mapfile -t TIDY < <(git ls-files '*.c' | grep -E '^(shared|runtime|store|pkcs11|keyserver|connector)/')
clang-tidy -p "$ROOT/build/release" --quiet --warnings-as-errors='*' "${TIDY[@]}" 2>/dev/null
echo "clang-tidy: ${#TIDY[@]} files clean"

if [ "${AK_SKIP_FUZZ:-0}" != 1 ]; then
    step "fuzz smoke (${FUZZ_SECONDS}s per target)"
    cmake -S "$ROOT" -B "$ROOT/build/fuzz" -DCMAKE_C_COMPILER=clang -DAK_FUZZ=ON -DAK_WERROR=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$ROOT/build/fuzz" -j "$JOBS" --target fuzz_all
    for bin in "$ROOT"/build/fuzz/tests/fuzz_*; do
        name=$(basename "$bin")
        name=${name#fuzz_}
        work=$(mktemp -d)
        cp -r "$ROOT/tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
        "$bin" -max_total_time="$FUZZ_SECONDS" -artifact_prefix="$work.crash-" "$work" \
            >"$work.log" 2>&1 || {
            tail -n 40 "$work.log"
            echo "fuzz target $name FAILED"
            exit 1
        }
        echo "fuzz $name: $(grep -Eo 'Done [0-9]+ runs' "$work.log" | tail -1) - no crash"
        rm -rf "$work" "$work.log"
    done
fi

step "all checks passed"
