#!/bin/bash
# End-to-end: bad input gets "z4vc: <what>: <why>", a non-zero exit, and
# leaves the store, the refs and the target directory exactly as they were.
. "$(dirname "$0")/lib.sh"
: "${Z4GEN:?set Z4GEN to the z4gen binary}"

# le64 N: 8 bytes little-endian
le64() {
  local n=$1 i s=""
  for i in 0 1 2 3 4 5 6 7; do s="$s$(printf '\\x%02x' $(( (n >> (8 * i)) & 255 )))"; done
  printf "$s"
}
# mkst FILE JSON NDATA [LEN]: a safetensors file with NDATA zero data bytes;
# LEN overrides the header length field.
mkst() {
  local len=${4:-${#2}}
  { le64 "$len"; printf '%s' "$2"; head -c "$3" /dev/zero; } >"$1"
}

CK=$TMP/ck
"$Z4GEN" --out "$CK" --steps 100 --every 50 --layers 1 --d-model 16 >/dev/null
R=$TMP/repo
new_repo "$R"
cd "$R"
check "good commit" z4vc commit "$CK/step-000050" --step 50
before=$(state "$R")

bad_ckpt() { # NAME: a checkpoint dir with a good config and one bad file
  rm -rf "$TMP/bad" && mkdir -p "$TMP/bad" && cp "$CK/step-000100/config.json" "$TMP/bad/"
  echo "$TMP/bad/model.safetensors"
}

commit_rejected() { # DESC PATTERN
  check_fails "$1" "$2" z4vc commit "$TMP/bad" --step 100
  check "$1: store and refs unchanged" test "$(state "$R")" = "$before"
}

t "truncated safetensors"
f=$(bad_ckpt); head -c 100 "$CK/step-000100/model.safetensors" >"$f"
commit_rejected "truncated file" "model.safetensors.*(exceeds|short|beyond|trunc)"
f=$(bad_ckpt); head -c 5 "$CK/step-000100/model.safetensors" >"$f"
commit_rejected "5-byte file" "model.safetensors"
f=$(bad_ckpt); n=$(stat -c %s "$CK/step-000100/model.safetensors")
head -c $((n - 1)) "$CK/step-000100/model.safetensors" >"$f"
commit_rejected "last byte missing" "model.safetensors"

t "malformed headers"
J='{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
f=$(bad_ckpt); mkst "$f" "$J" 8 1000000
commit_rejected "header length beyond file" "exceeds"
f=$(bad_ckpt); mkst "$f" '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}' 8
commit_rejected "offsets out of range" "model.safetensors"
f=$(bad_ckpt); mkst "$f" '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}' 12
commit_rejected "overlapping tensors" "overlap"
f=$(bad_ckpt); mkst "$f" '{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}' 8
commit_rejected "shape product overflow" "overflow"
f=$(bad_ckpt); mkst "$f" '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}' 8
commit_rejected "shape does not match size" "model.safetensors"
f=$(bad_ckpt); mkst "$f" '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}' 16
commit_rejected "duplicate tensor name" "duplicate"
f=$(bad_ckpt); mkst "$f" 'not json at all' 8
commit_rejected "not JSON" "model.safetensors"
f=$(bad_ckpt); mkst "$f" "$(printf '[%.0s' $(seq 1 5000))" 0
commit_rejected "nesting bomb" "model.safetensors"

t "--allow-opaque stores a malformed file as bytes"
f=$(bad_ckpt); head -c 100 "$CK/step-000100/model.safetensors" >"$f"
check "allow-opaque commit" z4vc commit "$TMP/bad" --step 100 --allow-opaque
check "round trip" z4vc checkout --step 100 -o "$TMP/opq"
check "bytes kept" same_tree "$TMP/opq" "$TMP/bad"
before=$(state "$R")

t "bad arguments"
check_fails "missing directory" "no such file|not found|No such" z4vc commit "$TMP/nope" --step 7
check "store unchanged" test "$(state "$R")" = "$before"
check_fails "duplicate step" "already committed" z4vc commit "$CK/step-000050" --step 50
check "store unchanged after duplicate" test "$(state "$R")" = "$before"
check_fails "unknown step" "step 999.*not found" z4vc checkout --step 999 -o "$TMP/x"
check "nothing written" test ! -e "$TMP/x"
check_fails "unknown run" "no checkpoints" z4vc checkout --run nope -o "$TMP/x"
check_fails "unknown revision" "unknown revision" z4vc checkout deadbeef -o "$TMP/x"
check_fails "bad run name" "not a valid" z4vc commit "$CK/step-000050" --run "a..b" --step 1
check_fails "not a repository" "not a git repository" z4vc -C "$TMP" log
mkdir -p "$TMP/plain" && git init -q "$TMP/plain"
check_fails "no store" "z4vc init" z4vc -C "$TMP/plain" log
check "nothing written by failures" test "$(state "$R")" = "$before"

t "hostile trees on checkout"
ptr_blob=$(git rev-parse ckpt/main:model.safetensors)
good=$(git rev-parse ckpt/main:config.json)
hostile_commit() { # NAME MODE -> commit id of a tree holding one entry
  local bin tree
  bin=$(printf '%s' "$ptr_blob" | sed 's/../\\x&/g')
  tree=$( { printf '%s %s\0' "$2" "$1"; printf "$bin"; } | git hash-object -t tree -w --literally --stdin)
  git commit-tree "$tree" -m hostile
}
mkdir -p "$TMP/target" && echo keep >"$TMP/target/keep"
for name in .. . .git ../escape /abs/path a/../../b; do
  c=$(hostile_commit "$name" 100644)
  check_fails "tree entry '$name'" "unsafe|refus" z4vc checkout "$c" -o "$TMP/target"
  check "target untouched ($name)" test "$(ls -A "$TMP/target")" = keep
done
check "nothing escaped" test ! -e "$TMP/escape"
c=$(hostile_commit link 120000)
check_fails "symlink entry" "symlink" z4vc checkout "$c" -o "$TMP/target"

t "symlink in the target directory"
mkdir -p "$TMP/elsewhere" "$TMP/src/sub"
cp "$CK/step-000050/config.json" "$TMP/src/sub/"
check "commit with a subdirectory" z4vc commit "$TMP/src" --run sub
ln -s "$TMP/elsewhere" "$TMP/target/sub"
check_fails "write through a symlinked dir" "symlink" z4vc checkout ckpt/sub -o "$TMP/target"
check "nothing written through it" test -z "$(ls -A "$TMP/elsewhere")"
before=$(state "$R")

t "malformed pointer"
bp=$(printf 'version https://git-lfs.github.com/spec/v1\r\noid sha256:%064d\r\nsize 1\r\n' 0 | git hash-object -w --stdin)
tree=$(printf '100644 blob %s\tmodel.safetensors\n' "$bp" | git mktree)
c=$(git commit-tree "$tree" -m crlf)
check_fails "pointer with CR" "pointer" z4vc checkout "$c" -o "$TMP/target"
bp=$(printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%064d\nsize 12\n' 7 | git hash-object -w --stdin)
tree=$(printf '100644 blob %s\tmodel.safetensors\n' "$bp" | git mktree)
c=$(git commit-tree "$tree" -m unknown)
check_fails "pointer to an unknown object" "not in the store" z4vc checkout "$c" -o "$TMP/target"
check "target untouched" test "$(ls -A "$TMP/target")" = "$(printf 'keep\nsub')"

t "corrupt chunk in the store"
store=$(git rev-parse --git-dir)/z4vc/store
mdb_dump -s chunks "$store" >"$TMP/chunks.dump"
# flip one hex digit in the middle of the first value line
awk 'BEGIN{d=0} /^HEADER=END/{h=1; print; next}
     h && /^ / {n++; if (n==2 && !d) {m=int(length($0)/2); c=substr($0,m,1);
       r=(c=="0")?"1":"0"; $0=substr($0,1,m-1) r substr($0,m+1); d=1}} {print}' \
  "$TMP/chunks.dump" >"$TMP/chunks.bad"
check "dump differs" test "$(cmp -s "$TMP/chunks.dump" "$TMP/chunks.bad"; echo $?)" = 1
check "load corrupted chunk" mdb_load -s chunks -f "$TMP/chunks.bad" "$store"
before=$(state "$R")
rm -rf "$TMP/co" && mkdir -p "$TMP/co" && echo keep >"$TMP/co/keep"
failed_any=0
for s in 50 100; do
  if ! "$Z4VC" checkout --step $s -o "$TMP/co" 2>"$TMP/co.err"; then failed_any=1
    check "corruption reported as z4vc: error" grep -qE '^z4vc: .*(corrupt|checksum|sha256|malformed)' "$TMP/co.err"
  fi
done
check "corruption detected" test $failed_any = 1
check "no partial files" test -z "$(find "$TMP/co" -name '.z4vc-tmp*')"
check "store unchanged by failed checkout" test "$(state "$R")" = "$before"

finish
