#!/bin/sh
# Runs every libFuzzer target in BUILD/tests/fuzz for SECONDS each, starting
# from its seed corpus (copied, so new inputs don't dirty the tree).
# Usage: sh tests/fuzz/run-fuzz.sh BUILD [SECONDS]
set -eu
build=$1
secs=${2:-60}
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for bin in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin" | sed 's/^fuzz_//')
  mkdir -p "$work/$name"
  [ -d "$src/corpus/$name" ] && cp -r "$src/corpus/$name/." "$work/$name/"
  echo "-- fuzz_$name for ${secs}s"
  if ! "$bin" -max_total_time="$secs" -print_final_stats=1 \
       -artifact_prefix="$work/" "$work/$name" 2>"$work/$name.log"; then
    tail -40 "$work/$name.log"
    echo "fuzz_$name: FAILED (reproducer in $work, kept in build/fuzz-artifacts)"
    mkdir -p build/fuzz-artifacts && cp "$work"/crash-* "$work"/leak-* \
      "$work"/timeout-* build/fuzz-artifacts/ 2>/dev/null || true
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work/$name.log" | tail -2
  fi
done
exit $status
