#!/bin/bash
# End-to-end: the order of durable writes that makes a commit survive a
# power cut (SIGKILL tests keep the page cache, so they cannot show it).
# Under strace, one `z4vc commit` must: fdatasync data.mdb and then write
# its meta page through the O_DSYNC descriptor (LMDB's durable commit),
# fsync the commit object and its directory, fsync the ref's lock file,
# and only then move the ref into place, fsyncing its directory after.
# Skipped (77) without strace.
. "$(dirname "$0")/lib.sh"
: "${Z4GEN:?set Z4GEN to the z4gen binary}"
command -v strace >/dev/null || { echo "skipped: no strace"; exit 77; }

CK=$TMP/ck
"$Z4GEN" --out "$CK" --steps 100 --every 50 --layers 1 --d-model 16 >/dev/null
R=$TMP/repo
new_repo "$R"
cd "$R"
z4vc commit "$CK/step-000050" --step 50 >/dev/null
# (LeakSanitizer cannot run under ptrace: off for this one command)
if ! ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -y -qq -o "$TMP/trace" \
  -e trace=openat,fsync,fdatasync,pwrite64,pwritev,rename,renameat,link \
  "$Z4VC" commit "$CK/step-000100" --step 100 >/dev/null 2>"$TMP/err"; then
  if grep -q "ptrace" "$TMP/err"; then echo "skipped: ptrace not permitted"; exit 77; fi
  sed 's/^/    /' "$TMP/err"
fi
gd=$(cd "$(git rev-parse --git-dir)" && pwd)
c=$(git rev-parse ckpt/main)
obj="objects/${c:0:2}/${c:2}"
# first line number matching an ERE (0 if none); last line number likewise
first() { grep -nE "$1" "$TMP/trace" | head -1 | cut -d: -f1; }
last() { grep -nE "$1" "$TMP/trace" | tail -1 | cut -d: -f1; }
n() { echo "${1:-0}"; }

t "LMDB commits durably before any git commit or ref"
dsync_fd=$(grep -E "openat\(.*data\.mdb\".*O_DSYNC" "$TMP/trace" | sed -n 's/.*) = \([0-9]*\)<.*/\1/p' | head -1)
check "data.mdb has an O_DSYNC descriptor (meta writes)" test -n "$dsync_fd"
sync_data=$(n "$(last "fdatasync\([0-9]+<[^>]*data\.mdb>")")
meta=$(n "$(last "pwrite64\($dsync_fd<[^>]*data\.mdb>")")
check "data pages synced" test "$sync_data" -gt 0
check "then the meta page written synchronously" test "$meta" -gt "$sync_data"

t "the commit object is durable before the ref moves"
obj_link=$(n "$(first "(link|rename)\(.*\"$gd/$obj\"")")
obj_dir=$(n "$(last "fsync\([0-9]+<$gd/objects/${c:0:2}>")")
ref_move=$(n "$(first "(link|rename)\(\"$gd/refs/heads/ckpt/main\.lock\", \"$gd/refs/heads/ckpt/main\"")")
lock_sync=$(n "$(last "fsync\([0-9]+<$gd/refs/heads/ckpt/main\.lock>")")
ref_dir=$(n "$(last "fsync\([0-9]+<$gd/refs/heads/ckpt>")")
check "commit object linked into place" test "$obj_link" -gt 0
check "its directory fsynced" test "$obj_dir" -gt "$obj_link"
check "store durable before the commit object" test "$obj_link" -gt "$meta"
check "ref moved" test "$ref_move" -gt 0
check "lock file fsynced before the move" test "$lock_sync" -gt 0 -a "$lock_sync" -lt "$ref_move"
check "ref moved after the commit object is durable" test "$ref_move" -gt "$obj_dir"
check "ref directory fsynced after the move" test "$ref_dir" -gt "$ref_move"
[ "$failed" = 0 ] || grep -nE "data\.mdb|ckpt|$obj" "$TMP/trace" | cut -c1-160 | tail -20 >&2
finish
