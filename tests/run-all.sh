#!/bin/sh
# Builds and runs the whole test suite: a warnings-as-errors build, then an
# ASan+UBSan build of the same suite, then (when clang is installed) each
# libFuzzer target for a short time. Usage: sh tests/run-all.sh [FUZZ_SECONDS]
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_secs=${1:-${Z4_FUZZ_SECONDS:-60}}

echo "== build + test (-Werror)"
cmake -S . -B build/ci -DZ4_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/ci -j "$jobs"
ctest --test-dir build/ci --output-on-failure -j "$jobs"

echo "== build + test (ASan+UBSan)"
cmake -S . -B build/asan -DZ4_WERROR=ON -DZ4_SANITIZE=address,undefined \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/asan --output-on-failure -j "$jobs"

if command -v clang >/dev/null 2>&1 && [ "$fuzz_secs" -gt 0 ]; then
  echo "== fuzz (${fuzz_secs}s per target)"
  CC=clang cmake -S . -B build/fuzz -DZ4_BUILD_FUZZ=ON -DZ4_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build/fuzz -j "$jobs" --target fuzz_all
  sh tests/fuzz/run-fuzz.sh build/fuzz "$fuzz_secs"
fi
echo "== all tests passed"
