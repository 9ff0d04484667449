#!/bin/bash
# End-to-end: a full disk and a full LMDB map. The repository lives on an
# 8 MiB tmpfs; commits go on until one fails with ENOSPC, which must be a
# clear "no space" error that leaves refs, store and every earlier
# checkpoint as they were; with space freed, the retry succeeds. Then a
# store opened with a 1 MiB map (Z4VC_TEST_MAPSIZE) must grow on demand,
# from one process and from two at once. Needs root for mount (else 77).
. "$(dirname "$0")/lib.sh"
: "${Z4GEN:?set Z4GEN to the z4gen binary}"

FS=$TMP/fs
mkdir -p "$FS"
if ! mount -t tmpfs -o size=8m tmpfs "$FS" 2>/dev/null; then
  echo "skipped: cannot mount a tmpfs here (needs root)"
  exit 77
fi
trap 'umount "$FS" 2>/dev/null; rm -rf "$TMP"' EXIT

CK=$TMP/ck # ~1.6 MB per step, so 8 MiB fills after a few
"$Z4GEN" --out "$CK" --steps 1000 --every 50 --layers 2 --d-model 64 >/dev/null
steps=$(cd "$CK" && ls -d step-* | sed 's/step-0*//; s/^$/0/')
R=$FS/repo
new_repo "$R"
mkdir -p "$FS/out" && echo keep >"$FS/out/keep" # a checkout target, later
cd "$R"

t "commit until the disk is full"
done_steps=""
full_step=""
for s in $steps; do
  before=$(state "$R")
  if z4vc commit "$CK/step-$(printf %06d "$s")" --step "$s" >"$TMP/out" 2>"$TMP/err"; then
    done_steps="$done_steps $s"
  else
    full_step=$s
    break
  fi
done
check "the disk filled up" test -n "$full_step"
check "some steps fit first" test -n "$done_steps"
check "one 'z4vc: ...: ...' line" grep -qE '^z4vc: commit .step [0-9]+.: .+' "$TMP/err"
check "it says no space" grep -qiE 'no space|disk full|file system full' "$TMP/err"
check "refs and store unchanged by the failed commit" test "$(state "$R")" = "$before"
sed 's/^/    /' "$TMP/err"

verify_all() { # DESC: every committed step checks out byte-exact
  local s
  if z4vc help | grep -qE '^ +fsck '; then check "$1: fsck" z4vc fsck --full; fi
  for s in $done_steps; do
    rm -rf "$TMP/co"
    check "$1: checkout step $s" z4vc checkout --step "$s" -o "$TMP/co"
    check "$1: step $s byte-exact" same_tree "$TMP/co" "$CK/step-$(printf %06d "$s")"
  done
}
verify_all "on a full disk"

t "retry on a still-full disk fails the same way"
check_fails "retry" "[Nn]o space|disk full|file system full" \
  z4vc commit "$CK/step-$(printf %06d "$full_step")" --step "$full_step"
check "still unchanged" test "$(state "$R")" = "$before"

t "checkout onto the full disk"
s=${done_steps##* }
check_fails "checkout" "[Nn]o space|disk full|file system full" \
  z4vc checkout --step "$s" -o "$FS/out"
check "target untouched, no temporaries" test "$(ls -A "$FS/out")" = keep
rm -rf "$FS/out"

t "with space freed the retry succeeds"
check "grow the file system" mount -o remount,size=256m "$FS"
check "retry" z4vc commit "$CK/step-$(printf %06d "$full_step")" --step "$full_step"
done_steps="$done_steps $full_step"
verify_all "after the retry"

t "map growth from a 1 MiB map"
export Z4VC_TEST_MAPSIZE=1048576
R2=$TMP/repo2
new_repo "$R2"
cd "$R2"
mkdir -p "$TMP/big"
"$Z4GEN" --big-mb 24 --out "$TMP/big/model.safetensors" --step 1 >/dev/null
check "commit 25 MB into a 1 MiB map" z4vc commit "$TMP/big" --step 1
map=$(mdb_stat -e "$(git rev-parse --git-dir)/z4vc/store" | awk '/Map size/ {print $3}')
check "the map grew (now $map bytes)" test "${map:-0}" -gt 16777216
check "checkout" z4vc checkout --step 1 -o "$TMP/co-big"
check "byte-exact" same_tree "$TMP/co-big" "$TMP/big"

t "two processes growing the map at once"
# Each opens with a 1 MiB map; whichever grows second must adopt the
# other's size (MDB_MAP_RESIZED) or grow again, never fail.
R3=$TMP/repo3
new_repo "$R3"
cd "$R3"
mkdir -p "$TMP/big2"
"$Z4GEN" --big-mb 24 --out "$TMP/big2/model.safetensors" --step 2 >/dev/null
z4vc commit "$TMP/big" --run x --step 1 >"$TMP/x.out" 2>&1 &
p1=$!
z4vc commit "$TMP/big2" --run y --step 2 >"$TMP/y.out" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
check "first committer" test $r1 = 0
check "second committer" test $r2 = 0
[ $r1 = 0 ] || sed 's/^/    /' "$TMP/x.out" >&2
[ $r2 = 0 ] || sed 's/^/    /' "$TMP/y.out" >&2
check "run x checks out" z4vc checkout ckpt/x -o "$TMP/cx"
check "run x byte-exact" same_tree "$TMP/cx" "$TMP/big"
check "run y checks out" z4vc checkout ckpt/y -o "$TMP/cy"
check "run y byte-exact" same_tree "$TMP/cy" "$TMP/big2"
unset Z4VC_TEST_MAPSIZE
cd "$TMP"

finish
