#!/bin/bash
# End-to-end: what a killed process leaves behind (docs/reliability.md,
# "Stale locks after a kill"). A git ref or reflog lock file older than
# z4vc.staleLockSeconds is removed by the next commit, prune or gc, with a
# notice; a fresh one is an error naming it, with refs and store unchanged;
# one is never removed while another z4vc process holds the ref-update
# lock. A killed checkout's temporaries are removed by the next checkout
# into the same target when their process is dead and no other checkout
# runs there; nothing else is touched. Likewise for install's temporaries.
. "$(dirname "$0")/lib.sh"
: "${Z4GEN:?set Z4GEN to the z4gen binary}"

CK=$TMP/ck
"$Z4GEN" --out "$CK" --steps 300 --every 50 --layers 2 --d-model 32 --init >/dev/null
ck() { echo "$CK/step-$(printf %06d "$1")"; }
R=$TMP/repo
new_repo "$R"
cd "$R"
GD=$(git rev-parse --absolute-git-dir)
LOCK=$GD/refs/heads/ckpt/a.lock
steps_of() { git log --format='%(trailers:key=Z4vc-Step,valueonly)' "ckpt/$1" | sed '/^$/d' | sort -n | tr '\n' ' '; }
# a lock as libgit2 leaves it when killed after writing it
plant() { mkdir -p "$(dirname "$1")" && git rev-parse ckpt/a >"$1"; }
old() { touch -d '1 minute ago' "$1"; }
# stderr_has DESC GREP-ARGS...: the last check's stderr matches
stderr_has() {
  local desc=$1
  shift
  if grep -q "$@" "$TMP/stderr"; then ok; else
    bad "$desc: stderr does not match '$*'"; sed 's/^/    /' "$TMP/stderr" >&2
  fi
}
notice() { stderr_has "notice" -xF "z4vc: $1: removed stale lock left by a killed process"; }
# a pid that is not running (its process has exited and been reaped)
dead_pid() {
  local p
  for _ in 1 2 3; do
    sh -c 'exit 0' & p=$!
    wait $p
    kill -0 $p 2>/dev/null || { echo $p; return; }
  done
}
sleep 600 & LIVE=$!
trap 'kill $LIVE 2>/dev/null; rm -rf "$TMP"' EXIT
DEAD=$(dead_pid)

check "step 0" z4vc commit "$(ck 0)" --run a --step 0
check "step 50" z4vc commit "$(ck 50)" --run a --step 50

t "fresh ref lock: clear error, refs and store unchanged"
plant "$LOCK"
before=$(state "$R")
t0=$(date +%s)
check_fails "commit with a fresh lock" \
  "refs/heads/ckpt/a: locked by '$GD/refs/heads/ckpt/a\.lock' \(.*removes it once it is 10 s old\)" \
  z4vc commit "$(ck 100)" --run a --step 100
check "failed in seconds" test $(($(date +%s) - t0)) -lt 10
check "refs and store unchanged" test "$(state "$R")" = "$before"
check "lock kept" test -f "$LOCK"
check "other runs not affected" z4vc commit "$(ck 100)" --run b --step 100

t "stale ref lock: removed with a notice, commit succeeds"
old "$LOCK"
check "commit over a stale lock" z4vc commit "$(ck 100)" --run a --step 100
notice refs/heads/ckpt/a
check "lock gone" test ! -e "$LOCK"
check "steps" test "$(steps_of a)" = "0 50 100 "
rm -rf "$TMP/co"
check "checkout" z4vc checkout ckpt/a -o "$TMP/co"
check "byte-exact" same_tree "$TMP/co" "$(ck 100)"
check "fsck" z4vc fsck

t "z4vc.staleLockSeconds"
plant "$LOCK" && old "$LOCK"
git config z4vc.staleLockSeconds 3600
check_fails "1 minute is fresh under 3600 s" "removes it once it is 3600 s old" \
  z4vc commit "$(ck 150)" --run a --step 150
git config z4vc.staleLockSeconds 0
check_fails "0: never removed automatically" \
  "locked by .*a\.lock' \(if no git or z4vc process is running, a killed one left it: remove it\)" \
  z4vc commit "$(ck 150)" --run a --step 150
check "lock kept" test -f "$LOCK"
git config z4vc.staleLockSeconds 30
check "1 minute is stale under 30 s" z4vc commit "$(ck 150)" --run a --step 150
notice refs/heads/ckpt/a
git config --unset z4vc.staleLockSeconds

t "never removed while another z4vc holds the ref-update lock"
plant "$LOCK" && old "$LOCK"
# stands for a z4vc process inside its ref update
(exec 9>"$GD/z4vc/ref-update.lock" && flock -x 9 && exec sleep 600) &
holder=$!
for ((i = 0; i < 500; i++)); do
  flock -n -x "$GD/z4vc/ref-update.lock" true 2>/dev/null || break
  sleep 0.01
done
timeout 4 "$Z4VC" commit "$(ck 200)" --run a --step 200 >/dev/null 2>&1
check "commit waits for it" test $? = 124
check "lock kept meanwhile" test -f "$LOCK"
kill $holder 2>/dev/null; wait $holder 2>/dev/null
check "then the commit clears it" z4vc commit "$(ck 200)" --run a --step 200
notice refs/heads/ckpt/a

t "prune: a ref lock is named, and cleared when stale"
tip=$(git rev-parse ckpt/a)
plant "$LOCK"
check_fails "prune with a fresh lock" "prune: refs/heads/ckpt/a: locked by '.*a\.lock'" \
  z4vc prune --run a --keep-last 2
if grep -q 'moved during prune' "$TMP/stderr"; then bad "reported as a moved run"; else ok; fi
check "ref unchanged" test "$(git rev-parse ckpt/a)" = "$tip"
old "$LOCK"
check "prune over a stale lock" z4vc prune --run a --keep-last 2
notice refs/heads/ckpt/a
check "pruned" test "$(steps_of a)" = "150 200 "
check "old tip in the reflog" test "$(git rev-parse ckpt/a@{1})" = "$tip"

t "gc --now: a reflog lock is named, and cleared when stale"
RLOCK=$GD/logs/refs/heads/ckpt/a.lock
plant "$RLOCK"
check_fails "gc with a fresh reflog lock" "logs/refs/heads/ckpt/a: locked by '.*logs/refs/heads/ckpt/a\.lock'" \
  z4vc gc --now
old "$RLOCK"
check "gc over a stale reflog lock" z4vc gc --now
notice logs/refs/heads/ckpt/a
check "reflog lock gone" test ! -e "$RLOCK"
check "fsck" z4vc fsck

t "checkout: leftovers of dead processes removed, nothing else"
SRC=$TMP/src
cp -r "$(ck 250)" "$SRC" && mkdir -p "$SRC/sub" && echo hello >"$SRC/sub/notes.txt"
check "commit with a subdirectory" z4vc commit "$SRC" --run c --step 1
CO=$TMP/co2
mkdir -p "$CO/sub" "$CO/other"
for d in "$CO" "$CO/sub"; do
  echo x >"$d/.z4vc-tmp-$DEAD-0"     # dead: removed
  echo x >"$d/.z4vc-tmp-$DEAD-12"    # dead: removed
  echo x >"$d/.z4vc-tmp-$LIVE-0"     # running: kept
  echo x >"$d/.z4vc-tmp-$DEAD"       # not the form: kept
  echo x >"$d/.z4vc-tmp-0$DEAD-1"    # not canonical: kept
  echo x >"$d/.z4vc-tmp-$DEAD-1.bak" # not the form: kept
  ln -s /etc/passwd "$d/.z4vc-tmp-$DEAD-3" # not a regular file: kept
done
echo x >"$CO/other/.z4vc-tmp-$DEAD-0" # not a directory of the tree: kept
check "checkout" z4vc checkout ckpt/c -o "$CO"
stderr_has "notice" -xF "z4vc: '$CO': removed 4 temporary files left by a killed checkout"
left=$(cd "$CO" && find . -name '.z4vc-tmp*' | sort | tr '\n' ' ')
want=$(for d in . ./sub; do printf '%s\n' "$d/.z4vc-tmp-$LIVE-0" "$d/.z4vc-tmp-$DEAD" \
  "$d/.z4vc-tmp-0$DEAD-1" "$d/.z4vc-tmp-$DEAD-1.bak" "$d/.z4vc-tmp-$DEAD-3"; done
  echo "./other/.z4vc-tmp-$DEAD-0")
check "only the dead ones removed" test "$left" = "$(echo "$want" | sort | tr '\n' ' ')"
check "symlink target untouched" test -s /etc/passwd
find "$CO" -name '.z4vc-tmp*' -exec rm -f {} + && rmdir "$CO/other"
check "byte-exact" same_tree "$CO" "$SRC"
check "next checkout quiet" sh -c "exec '$Z4VC' checkout ckpt/c -o '$CO' 2>'$TMP/stderr2'"
check "no notice" test ! -s "$TMP/stderr2"

SHIM=$TMP/killshim.so
if "${CC:-cc}" -shared -fPIC -O2 -o "$SHIM" "$(dirname "$0")/../crash/killshim.c" -ldl 2>/dev/null; then
  shim() { LD_PRELOAD=$SHIM ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 "$@"; }
  t "checkout killed: the next one removes its temporaries"
  CO=$TMP/co3
  rm -rf "$CO"
  Z4VC_KILL_COUNT=$TMP/count shim "$Z4VC" checkout ckpt/c -o "$TMP/co-count" >/dev/null 2>&1
  n=$(cat "$TMP/count")
  (Z4VC_KILL_AT=$((n / 2)) shim "$Z4VC" checkout ckpt/c -o "$CO" >/dev/null 2>&1)
  check "killed" test $? = 137
  k=$(find "$CO" -name '.z4vc-tmp-*' | wc -l)
  check "it left temporaries" test "$k" -ge 1
  check "next checkout" z4vc checkout ckpt/c -o "$CO"
  stderr_has "notice" -E "^z4vc: '$CO': removed $k temporary files? left by a killed checkout$"
  check "none left" test -z "$(find "$CO" -name '.z4vc-tmp*')"
  check "byte-exact" same_tree "$CO" "$SRC"

  t "checkout: nothing removed while another checkout runs there"
  PF=$TMP/pause
  touch "$PF"
  # paused after writing its first temporary, holding its target lock
  Z4VC_PAUSE_AT=fsync:1 Z4VC_PAUSE_FILE=$PF shim "$Z4VC" checkout ckpt/c -o "$CO" >/dev/null 2>&1 &
  bg=$!
  for ((i = 0; i < 6000; i++)); do [ -e "$PF.reached" ] && break; sleep 0.01; done
  check "first checkout paused" test -e "$PF.reached"
  echo x >"$CO/.z4vc-tmp-$DEAD-0"
  check "second checkout" z4vc checkout ckpt/c -o "$CO"
  check "leftover kept" test -f "$CO/.z4vc-tmp-$DEAD-0"
  rm -f "$PF"
  wait $bg
  check "first checkout succeeds" test $? = 0
  check "third checkout" z4vc checkout ckpt/c -o "$CO"
  check "leftover removed" test ! -e "$CO/.z4vc-tmp-$DEAD-0"
  check "byte-exact" same_tree "$CO" "$SRC"
else
  echo "note: no C compiler, killed checkouts not tested"
fi

t "install: temporaries of dead processes removed"
W=$TMP/work
git init -q "$W"
echo x >"$W/.gitattributes.z4vc-tmp-$DEAD"
echo x >"$W/.gitattributes.z4vc-tmp-$LIVE"
echo x >"$W/.gitattributes.z4vc-tmp-$DEAD-1"
check "install" sh -c "cd '$W' && exec '$Z4VC' install"
check "dead one removed" test ! -e "$W/.gitattributes.z4vc-tmp-$DEAD"
check "live one kept" test -f "$W/.gitattributes.z4vc-tmp-$LIVE"
check "other name kept" test -f "$W/.gitattributes.z4vc-tmp-$DEAD-1"
check "attributes written" grep -q 'filter=z4vc' "$W/.gitattributes"
check "no temporary of its own left" test "$(ls -a "$W" | grep -c z4vc-tmp)" = 2

finish
