#!/bin/bash
# End-to-end: several processes on one store. Two commits at once (same
# run: the later one re-parents on the earlier; different runs); readers
# (log, checkout, fsck) while a commit is inside its LMDB write; a reader
# slot and the writer lock left by killed processes block nothing.
# Interleavings are forced with tests/crash/killshim.c's pause (a process
# waits at a chosen system call until the test lets it go), never guessed
# with sleeps; without a C compiler those cases run unforced.
. "$(dirname "$0")/lib.sh"
: "${Z4GEN:?set Z4GEN to the z4gen binary}"

CK=$TMP/ck
"$Z4GEN" --out "$CK" --steps 400 --every 50 --layers 2 --d-model 32 --init >/dev/null
mkdir -p "$TMP/big"
"$Z4GEN" --big-mb 24 --out "$TMP/big/model.safetensors" --step 1 >/dev/null
ck() { echo "$CK/step-$(printf %06d "$1")"; }
SHIM=$TMP/killshim.so
if ! "${CC:-cc}" -shared -fPIC -O2 -o "$SHIM" "$(dirname "$0")/../crash/killshim.c" -ldl 2>/dev/null; then
  SHIM=""
  echo "note: no C compiler, interleavings not forced"
fi
have_fsck=0
z4vc help | grep -qE '^ +fsck ' && have_fsck=1
R=$TMP/repo
new_repo "$R"
cd "$R"

# paused PAUSE_AT CMD...: run CMD in the background under the shim, paused
# before PAUSE_AT (see killshim.c) until `release`; sets bg_pid. Returns
# when the process has reached the pause (or finished).
paused() {
  local at=$1 i
  shift
  PF=$TMP/pause.$RANDOM
  touch "$PF"
  rm -f "$PF.reached"
  if [ -n "$SHIM" ]; then
    LD_PRELOAD=$SHIM Z4VC_PAUSE_AT=$at Z4VC_PAUSE_FILE=$PF \
      ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 "$@" \
      >"$TMP/bg.out" 2>&1 &
  else
    "$@" >"$TMP/bg.out" 2>&1 &
  fi
  bg_pid=$!
  for ((i = 0; i < 6000; i++)); do # 60 s at most
    [ -e "$PF.reached" ] && return 0
    kill -0 $bg_pid 2>/dev/null || return 0
    sleep 0.01
  done
}
release() { rm -f "$PF"; wait $bg_pid; bg_rc=$?; }
reached() { [ -e "$PF.reached" ]; }

steps_of() { git log --format='%(trailers:key=Z4vc-Step,valueonly)' "ckpt/$1" | sed '/^$/d' | sort -n | tr '\n' ' '; }

checkout_ok() { # DESC REV SRC
  rm -rf "$TMP/co"
  check "$1: checkout" z4vc checkout "$2" -o "$TMP/co"
  check "$1: byte-exact" same_tree "$TMP/co" "$3"
}

t "same run: a commit that lost the ref race re-parents"
check "base step 0" z4vc commit "$(ck 0)" --run same --step 0
# A reads the tip (step 0) at begin, then waits at its first write; B
# commits step 50 meanwhile; A's compare-and-swap fails and it re-parents.
paused 1 "$Z4VC" commit "$(ck 100)" --run same --step 100
[ -n "$SHIM" ] && check "A paused after reading the tip" reached
check "B commits while A waits" z4vc commit "$(ck 50)" --run same --step 50
b=$(git rev-parse ckpt/same)
release
check "A succeeds" test "$bg_rc" = 0
[ "$bg_rc" = 0 ] || sed 's/^/    /' "$TMP/bg.out" >&2
check "both steps on ckpt/same" test "$(steps_of same)" = "0 50 100 "
check "A is on top of B" test "$(git rev-parse ckpt/same^)" = "$b"
check "linear history" test "$(git rev-list --merges ckpt/same | wc -l)" = 0
checkout_ok "step 50" ckpt/same~1 "$(ck 50)"
checkout_ok "step 100" ckpt/same "$(ck 100)"

t "same run, same step: the commit that lost the race is refused"
if [ -n "$SHIM" ]; then
  paused 1 "$Z4VC" commit "$(ck 100)" --run dup --step 7
  check "B commits step 7" z4vc commit "$(ck 50)" --run dup --step 7
  b=$(git rev-parse ckpt/dup)
  release
  check "A fails" test "$bg_rc" = 1
  check "A says why" grep -q "step 7 was committed on run 'dup' meanwhile" "$TMP/bg.out"
  check "step 7 once, B's" test "$(git rev-list --count ckpt/dup):$(git rev-parse ckpt/dup)" = "1:$b"
  git update-ref -d refs/heads/ckpt/dup
fi

t "same run, unforced: two commits at once"
for s in 150 200; do
  z4vc commit "$(ck $s)" --run same --step $s >"$TMP/p$s.out" 2>&1 &
  eval "p$s=\$!"
done
wait $p150; r1=$?
wait $p200; r2=$?
check "both succeed" test "$r1$r2" = 00
check "all steps on ckpt/same" test "$(steps_of same)" = "0 50 100 150 200 "
checkout_ok "step 150" "$(git log --format=%H --grep='^Z4vc-Step: 150$' ckpt/same)" "$(ck 150)"
checkout_ok "step 200" "$(git log --format=%H --grep='^Z4vc-Step: 200$' ckpt/same)" "$(ck 200)"

t "different runs: two commits at once"
z4vc commit "$TMP/big" --run x --step 1 >"$TMP/x.out" 2>&1 &
px=$!
z4vc commit "$(ck 250)" --run y --step 250 >"$TMP/y.out" 2>&1 &
py=$!
wait $px; r1=$?
wait $py; r2=$?
check "both succeed" test "$r1$r2" = 00
checkout_ok "run x" ckpt/x "$TMP/big"
checkout_ok "run y" ckpt/y "$(ck 250)"

t "readers while a commit is inside its LMDB write"
# The writer stops in its first LMDB commit (pages written, not yet
# synced, meta not written), holding LMDB's writer lock.
before=$(git rev-parse ckpt/same)
paused fdatasync:1 "$Z4VC" commit "$(ck 300)" --run same --step 300
[ -n "$SHIM" ] && check "writer paused inside its commit" reached
check "log reads" z4vc log
check "log still shows the old tip" test "$(z4vc log --json --run same | jq -r '.[0].commit')" = "$before"
checkout_ok "reader: step 50" ckpt/same~3 "$(ck 50)"
checkout_ok "reader: run x" ckpt/x "$TMP/big"
[ $have_fsck = 1 ] && check "fsck reads" z4vc fsck
# A second writer (other run) waits for the lock, then goes through.
z4vc commit "$(ck 350)" --run y --step 350 >"$TMP/w2.out" 2>&1 &
w2=$!
check "ref unmoved while paused" test "$(git rev-parse ckpt/same)" = "$before"
release
wait $w2; r2=$?
check "paused writer finishes" test "$bg_rc" = 0
check "second writer finishes" test "$r2" = 0
checkout_ok "step 300" ckpt/same "$(ck 300)"
checkout_ok "step 350" ckpt/y "$(ck 350)"

t "a killed reader's slot blocks nothing"
store=$(git rev-parse --git-dir)/z4vc/store
if [ -n "$SHIM" ]; then
  # LMDB resets its reader table when the first process opens the store,
  # so a dead reader's slot only lingers while another process has it
  # open: hold it with a paused checkout.
  paused 1 "$Z4VC" checkout ckpt/y -o "$TMP/holder"
  # killed a few writes into its output, with its read snapshot open
  (LD_PRELOAD=$SHIM Z4VC_KILL_AT=5 \
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    exec "$Z4VC" checkout ckpt/x -o "$TMP/killed") 2>/dev/null &
  kp=$!
  wait $kp
  check "reader was killed" test $? = 137
  slots() { mdb_stat -r "$store" | awk -v p="$kp" '$1 == p' | wc -l; }
  check "its slot is left in the reader table" test "$(slots)" -gt 0
  check "commit after a dead reader" z4vc commit "$(ck 400)" --run y --step 400
  check "the dead slot was freed" test "$(slots)" = 0
  release
  check "the holder finishes" test "$bg_rc" = 0
fi

t "a killed writer's lock blocks nothing"
# SIGKILL inside the store's write txn: LMDB's writer mutex is left owned
# by a dead process; the next writer must recover it.
mkdir -p "$TMP/fresh" # bytes the store does not have yet
"$Z4GEN" --big-mb 2 --out "$TMP/fresh/model.safetensors" --step 9 >/dev/null
(cd "$R" && Z4VC_CRASH_AT=store-txn:1 exec "$Z4VC" commit "$TMP/fresh" --run z --step 9) 2>/dev/null
check "writer was killed" test $? = 137
check "next commit gets the lock" z4vc commit "$TMP/fresh" --run z --step 9
check "and a reader works" z4vc log --run z
checkout_ok "run z" ckpt/z "$TMP/fresh"
[ $have_fsck = 1 ] && check "fsck after all of it" z4vc fsck --full

finish
