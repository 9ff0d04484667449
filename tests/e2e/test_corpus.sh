#!/bin/bash
# End-to-end on real training checkpoints (../shared/corpus/small): every
# step commits and checks out byte for byte, and the bf16 weights take less
# space than zstd -3 of each step. Skips (exit 77) when the corpus is absent.
. "$(dirname "$0")/lib.sh"
C=${Z4_CORPUS:-}/small
if [ ! -d "$C" ]; then echo "corpus not found: skipped"; exit 77; fi

R=$TMP/repo
new_repo "$R"
cd "$R"
steps=$(ls "$C" | grep '^step-' | sort)
t "commit the corpus"
for d in $steps; do
  s=$((10#${d#step-}))
  check "commit $d" z4vc commit "$C/$d" --step $s --run small
done
t "every step round-trips"
for d in $steps; do
  s=$((10#${d#step-}))
  rm -rf "$TMP/out"
  check "checkout $d" z4vc checkout --step $s --run small -o "$TMP/out"
  check "$d identical" same_tree "$TMP/out" "$C/$d"
done
t "bf16 weights beat zstd -3"
zstd_total=0
for d in $steps; do
  n=$(zstd -3 -c -q "$C/$d/model.safetensors" | wc -c)
  zstd_total=$((zstd_total + n))
done
ours=$(z4vc stats --json | jq '[.dtypes[] | select(.dtype=="BF16") | .stored_bytes] | add')
echo "bf16 stored: z4vc $ours bytes, zstd -3 $zstd_total bytes"
check "z4vc < zstd -3" test "$ours" -lt "$zstd_total"
finish
