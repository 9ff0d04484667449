#!/bin/bash
# End-to-end: hostile bytes that tests/e2e/test_badinput.sh does not cover.
# Stored objects with lying sizes or tampered bytes, Git LFS pointers at and
# past the spec's limits, malformed trees, a damaged store, odd files in a
# checkpoint. Each must give "z4vc: <what>: <why>" and exit 1 (never a
# signal), leave the target directory as it was, and leave every sound
# checkpoint readable.
. "$(dirname "$0")/lib.sh"
: "${Z4GEN:?set Z4GEN to the z4gen binary}"

CK=$TMP/ck
"$Z4GEN" --out "$CK" --steps 150 --every 50 --layers 1 --d-model 16 >/dev/null
ck() { echo "$CK/step-$(printf %06d "$1")"; }
R=$TMP/repo
new_repo "$R"
cd "$R"
for s in 50 100; do z4vc commit "$(ck $s)" --step $s >/dev/null; done
store=$(git rev-parse --git-dir)/z4vc/store
have_fsck=0
z4vc help | grep -qE '^ +fsck ' && have_fsck=1

# rejected DESC PATTERN CMD...: fails cleanly (exit 1, not a signal).
rejected() {
  local desc=$1 pat=$2 rc
  shift 2
  check_fails "$desc" "$pat" "$@"
  "$@" >/dev/null 2>&1
  rc=$?
  check "$desc: exit 1, not a signal" test $rc = 1
}
mkdir -p "$TMP/target" && echo keep >"$TMP/target/keep"
untouched() { check "$1: target untouched" test "$(ls -A "$TMP/target")" = keep; }
commit_of_tree() { git commit-tree "$1" -m hostile; }
one_file_tree() { printf '100644 blob %s\t%s\n' "$1" "${2:-model.safetensors}" | git mktree; }
# bin HEX: the bytes
bin() { printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }

# edit_value DB N AWK: rewrite value N (1-based, dump order) of db DB with
# the awk program AWK applied to its hex text in `v`, and load it back.
edit_value() {
  mdb_dump -s "$1" "$store" >"$TMP/db.dump"
  awk -v n="$2" "/^HEADER=END/ {h = 1; print; next}
    !h || /^DATA=END/ {print; next}
    {k++} k == 2 * n {v = substr(\$0, 2); $3; \$0 = \" \" v} {print}" \
    "$TMP/db.dump" >"$TMP/db.bad"
  cmp -s "$TMP/db.dump" "$TMP/db.bad" && return 1
  mdb_load -s "$1" -f "$TMP/db.bad" "$store" 2>/dev/null
}
restore_db() { mdb_load -s "$1" -f "$TMP/db.dump" "$store" 2>/dev/null; }

# Which steps check out byte-exact now; the rest must fail cleanly.
verify_steps() { # DESC PATTERN: at least one step fails with PATTERN
  local s failed_one=0
  for s in 50 100; do
    rm -rf "$TMP/co"
    if z4vc checkout --step $s -o "$TMP/co" >/dev/null 2>"$TMP/co.err"; then
      check "$1: step $s, if it checks out, is exact" same_tree "$TMP/co" "$(ck $s)"
    else
      failed_one=1
      check "$1: step $s fails with /$2/" grep -qE "^z4vc: .*($2)" "$TMP/co.err"
      check "$1: no temporaries" test -z "$(find "$TMP/co" -name '.z4vc-tmp*' 2>/dev/null)"
    fi
  done
  check "$1: detected" test $failed_one = 1
  if [ $have_fsck = 1 ]; then
    "$Z4VC" fsck --full >/dev/null 2>&1
    check "$1: fsck reports it" test $? = 1
  fi
}

t "a chunk declaring 1 TB decoded"
# decoded_len is bytes 8..15 of the encoded chunk (docs/format.md)
check "edit chunk" edit_value chunks 1 \
  'v = substr(v, 1, 16) "0000000000010000" substr(v, 33)'
verify_steps "1 TB chunk" "chunk [0-9a-f]+: (malformed|too big|corrupt)"
check "a new commit on top still works (keyframes)" z4vc commit "$(ck 150)" --step 150
rm -rf "$TMP/co"
check "checkout of it" z4vc checkout --step 150 -o "$TMP/co"
check "byte-exact" same_tree "$TMP/co" "$(ck 150)"
restore_db chunks

t "a tensor record with a flipped byte"
check "edit tensor" edit_value tensors 1 \
  'c = substr(v, 20, 1); v = substr(v, 1, 19) (c == "0" ? "1" : "0") substr(v, 21)'
verify_steps "tensor record" "tensor [0-9a-f]+: .*(checksum|corrupt|malformed)"
restore_db tensors

t "a recipe whose inline header bytes were altered"
# byte 24 of a safetensors recipe lies in the verbatim header JSON: it
# decodes fine, so only the SHA-256 of the rebuilt file can catch it
check "edit recipe" edit_value recipes 1 \
  'c = substr(v, 49, 1); v = substr(v, 1, 48) (c == "0" ? "1" : "0") substr(v, 50)'
verify_steps "recipe" "sha256|recipe|malformed|corrupt"
restore_db recipes
rm -rf "$TMP/co"
check "restored store is sound" z4vc checkout --step 100 -o "$TMP/co"

t "a cycle of delta bases"
# Take a delta chunk X with base Y and rewrite Y as a delta on X (flags
# bit 0, depth 1, X's id inserted as the base id at byte 32): a chain
# X -> Y -> X -> ... that every reader must cut off, not follow forever.
mdb_dump -s chunks "$store" >"$TMP/db.dump"
xy=$(awk '/^HEADER=END/ {h = 1; next} !h || /^DATA=END/ {next}
  {n++; if (n % 2) {key = substr($0, 2); next}
   v = substr($0, 2)
   if (substr(v, 10, 1) ~ /[13579bdf]/) {print key, substr(v, 65, 32); exit}}' "$TMP/db.dump")
x=${xy% *} y=${xy#* }
check "a delta chunk to loop" test -n "$x"
awk -v x="$x" -v y="$y" '/^HEADER=END/ {h = 1; print; next} !h || /^DATA=END/ {print; next}
  {n++; if (n % 2) {key = substr($0, 2); next}
   if (key != y) next
   v = substr($0, 2)
   print " " key
   print " " substr(v, 1, 8) "01" substr(v, 11, 2) "0100" substr(v, 17, 48) x substr(v, 65)}' \
  "$TMP/db.dump" >"$TMP/db.bad"
check "load the loop" mdb_load -s chunks -f "$TMP/db.bad" "$store"
verify_steps "delta cycle" "delta chain|corrupt|malformed"
for cmd in "repack --keyframe-interval 4" "gc --now"; do
  if z4vc help | grep -qE "^ +${cmd%% *} "; then
    timeout 120 "$Z4VC" $cmd >/dev/null 2>&1
    rc=$?
    check "$cmd over the loop ends, without a signal (exit $rc)" test $rc -lt 124
  fi
done
restore_db chunks
rm -rf "$TMP/co"
check "restored store is sound again" z4vc checkout --step 100 -o "$TMP/co"
check "and exact" same_tree "$TMP/co" "$(ck 100)"

t "Git LFS pointers at and past the limits"
ptr=$(git cat-file -p ckpt/main~1:model.safetensors) # step 100
oid=$(printf '%s\n' "$ptr" | sed -n 's/^oid sha256://p')
size=$(printf '%s\n' "$ptr" | sed -n 's/^size //p')
V1=https://git-lfs.github.com/spec/v1
ptr_of_len() { # N: a valid pointer of exactly N bytes (padded ext- line)
  local base pad
  base=$(printf 'version %s\next-0-pad x:\noid sha256:%s\nsize %s\n' $V1 "$oid" "$size" | wc -c)
  pad=$(($1 - base))
  printf 'version %s\next-0-pad x:%s\noid sha256:%s\nsize %s\n' $V1 \
    "$(head -c $pad /dev/zero | tr '\0' a)" "$oid" "$size"
}
try_ptr() { # DESC PATTERN|ok: a tree whose model.safetensors is stdin
  local blob c
  blob=$(git hash-object -w --stdin)
  c=$(commit_of_tree "$(one_file_tree "$blob")")
  if [ "$2" = ok ]; then
    rm -rf "$TMP/co"
    check "$1: checks out" z4vc checkout "$c" -o "$TMP/co"
    check "$1: exact" cmp "$TMP/co/model.safetensors" "$(ck 100)/model.safetensors"
  else
    rejected "$1" "$2" z4vc checkout "$c" -o "$TMP/target"
    untouched "$1"
  fi
}
ptr_of_len 1024 | try_ptr "1024-byte pointer with an ext- key" ok
ptr_of_len 1025 | try_ptr "1025-byte pointer" "malformed Git LFS pointer"
ptr_of_len 100000 | try_ptr "100 kB pointer" "malformed Git LFS pointer"
bad_oid() { printf 'version %s\noid sha256:%s\nsize %s\n' $V1 "$1" "$size"; }
bad_oid "$(printf '%s' "$oid" | tr 'a-f' 'A-F')" | try_ptr "uppercase hex" "malformed Git LFS pointer"
bad_oid "g${oid:1}" | try_ptr "non-hex digit" "malformed Git LFS pointer"
bad_oid "${oid:1}" | try_ptr "63 hex digits" "malformed Git LFS pointer"
bad_oid "${oid}0" | try_ptr "65 hex digits" "malformed Git LFS pointer"
bad_size() { printf 'version %s\noid sha256:%s\nsize %s\n' $V1 "$oid" "$1"; }
bad_size 18446744073709551616 | try_ptr "size over 2^64" "malformed Git LFS pointer"
bad_size "0$size" | try_ptr "size with a leading zero" "malformed Git LFS pointer"
bad_size "-$size" | try_ptr "negative size" "malformed Git LFS pointer"
bad_size $((size + 1)) | try_ptr "size one too big" "size .*differs|sha256"
printf 'version %s\nsize %s\noid sha256:%s\n' $V1 "$size" "$oid" |
  try_ptr "keys out of order" "malformed Git LFS pointer"
printf 'version %s\noid sha256:%s\nsize %s' $V1 "$oid" "$size" |
  try_ptr "no final newline" "malformed Git LFS pointer"
printf 'version %s\noid sha256:%s\noid sha256:%s\nsize %s\n' $V1 "$oid" "$oid" "$size" |
  try_ptr "oid twice" "malformed Git LFS pointer"

t "malformed trees"
cfg=$(git rev-parse ckpt/main:config.json)
sub=$(one_file_tree "$cfg" x)
tree=$({ printf '100644 a\0'; bin "$cfg"; printf '40000 a\0'; bin "$sub"; } |
  git hash-object -t tree -w --literally --stdin)
rejected "a file and a directory of one name" "twice|duplicate" \
  z4vc checkout "$(commit_of_tree "$tree")" -o "$TMP/target"
untouched "file and directory"
tree=$({ printf '100644 a\0'; bin "$cfg"; printf '100644 a\0'; bin "$cfg"; } |
  git hash-object -t tree -w --literally --stdin)
rejected "a name twice" "twice|duplicate" \
  z4vc checkout "$(commit_of_tree "$tree")" -o "$TMP/target"
untouched "name twice"
deep=$(one_file_tree "$cfg" f)
long=$(head -c 250 /dev/zero | tr '\0' d)
for i in $(seq 1 20); do # 20 x 251 bytes: over PATH_MAX (4096)
  deep=$({ printf '40000 %s\0' "$long"; bin "$deep"; } | git hash-object -t tree -w --literally --stdin)
done
rejected "a path longer than PATH_MAX" "too long" \
  z4vc checkout "$(commit_of_tree "$deep")" -o "$TMP/target"
untouched "deep path"
blob_ref=$(git hash-object -w --stdin <<<"not a commit")
git update-ref refs/heads/ckpt/evil "$(git mktree </dev/null)" 2>/dev/null ||
  git update-ref refs/heads/ckpt/evil "$blob_ref" 2>/dev/null
if git rev-parse -q --verify refs/heads/ckpt/evil >/dev/null; then
  "$Z4VC" log >/dev/null 2>&1
  check "log over a ckpt/ ref to a non-commit does not crash" test $? -lt 128
  rejected "commit onto a ckpt/ ref to a non-commit" "evil|commit|object" \
    z4vc commit "$(ck 50)" --run evil --step 1
  git update-ref -d refs/heads/ckpt/evil
fi
c=$(git commit-tree "$(git rev-parse ckpt/main^{tree})" -p ckpt/main \
  -m "$(printf 'odd\n\nZ4vc-Run: main\nZ4vc-Step: 99999999999999999999999\n')")
git update-ref refs/heads/ckpt/odd "$c"
check "log with an out-of-range step trailer" z4vc log
git update-ref -d refs/heads/ckpt/odd

t "a damaged store"
cp "$store/data.mdb" "$TMP/data.mdb.good"
truncate -s $(($(stat -c %s "$store/data.mdb") / 2)) "$store/data.mdb"
rejected "log on a truncated data.mdb" "truncated" z4vc log
rejected "checkout on a truncated data.mdb" "truncated" z4vc checkout --step 50 -o "$TMP/target"
rejected "commit on a truncated data.mdb" "truncated" z4vc commit "$(ck 50)" --run t --step 1
untouched "truncated store"
cp "$TMP/data.mdb.good" "$store/data.mdb"
mdb_dump -p -s meta "$store" >"$TMP/meta.dump"
for fmt in 7 abc 01 ""; do
  sed "s/^ [0-9][0-9]*\$/ $fmt/" "$TMP/meta.dump" >"$TMP/meta.bad"
  # the value line of key "format" is " 6" in printable dump form
  mdb_load -s meta -f "$TMP/meta.bad" "$store" 2>/dev/null
  rejected "store format '$fmt'" "format|newer|unsupported|corrupt" z4vc log
done
mdb_load -s meta -f "$TMP/meta.dump" "$store" 2>/dev/null
head -c 8192 /dev/urandom >"$store/lock.mdb"
"$Z4VC" log >/dev/null 2>"$TMP/err"
check "garbage lock.mdb: rebuilt or refused, not a crash" test $? -lt 128
check "lock.mdb rebuilt by a fresh open" z4vc checkout --step 100 -o "$TMP/co2"
check "and the data is intact" same_tree "$TMP/co2" "$(ck 100)"

t "odd files in a checkpoint directory"
before=$(state "$R")
mkdir -p "$TMP/odd" && cp "$(ck 50)/config.json" "$TMP/odd/"
ln -s "$(ck 50)/model.safetensors" "$TMP/odd/model.safetensors"
rejected "a symlink in the checkpoint" "not a regular file" z4vc commit "$TMP/odd" --run odd --step 1
rm "$TMP/odd/model.safetensors" && mkfifo "$TMP/odd/pipe"
rejected "a fifo in the checkpoint (no hang)" "not a regular file" \
  timeout 20 "$Z4VC" commit "$TMP/odd" --run odd --step 1
check "store and refs unchanged" test "$(state "$R")" = "$before"

finish
