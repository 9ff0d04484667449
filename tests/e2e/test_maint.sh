#!/bin/bash
# End-to-end: fsck, gc (with compaction), prune and repack through the z4vc
# binary on real git repositories.
. "$(dirname "$0")/lib.sh"
: "${Z4GEN:?set Z4GEN to the z4gen binary}"

A=$TMP/a B=$TMP/b
"$Z4GEN" --out "$A" --steps 9 --every 1 --layers 1 --d-model 32 --init >/dev/null
"$Z4GEN" --out "$B" --steps 2 --every 1 --layers 1 --d-model 48 --seed 7 --init >/dev/null
step() { printf '%s/step-%06d' "$1" "$2"; }
jfield() { jq -r "$1" "$TMP/out.json"; }
# out_has DESC PATTERN CMD...: the command succeeds and prints a line matching PATTERN.
out_has() {
  desc=$1; pat=$2; shift 2
  if "$@" >"$TMP/o.txt" 2>&1 && grep -qE "$pat" "$TMP/o.txt"; then ok; else
    bad "$desc"; sed 's/^/    /' "$TMP/o.txt" | tail -20 >&2
  fi
}
data_size() { stat -c %s "$(git rev-parse --git-dir)/z4vc/store/data.mdb"; }

R=$TMP/repo
new_repo "$R"
cd "$R"
for s in 0 1 2 3; do z4vc commit "$(step "$A" $s)" --step $s --run a >/dev/null; done
z4vc commit "$(step "$A" 3)" --step 3 --run b >/dev/null   # shares a's chunks
for s in 0 1 2; do z4vc commit "$(step "$B" $s)" --step $s --run tmp >/dev/null; done

t "fsck on a good repository"
check "fsck" z4vc fsck
check "fsck --full" z4vc fsck --full
z4vc fsck --json >"$TMP/out.json" 2>/dev/null
check "json ok" jq -e '.ok == true and .problem_count == 0 and .commits == 8 and (.dangling | length) == 0' "$TMP/out.json"
z4vc gc --json >"$TMP/out.json"
check "gc deletes nothing reachable" jq -e '.dead_chunks == 0 and .dead_tensors == 0 and .dead_recipes == 0' "$TMP/out.json"

t "a deleted run: dangling, then collected exactly"
git branch -q -D ckpt/tmp
z4vc fsck --json >"$TMP/fsck.json"
check "still clean" jq -e '.ok == true' "$TMP/fsck.json"
check "dangling listed" jq -e '[.dangling[] | select(.kind == "chunk")] | length > 0' "$TMP/fsck.json"
out_has "dangling text" '^dangling chunk ' z4vc fsck
z4vc gc --json >"$TMP/out.json"
for k in chunk tensor recipe; do
  check "gc deleted exactly the dangling ${k}s" test "$(jq "[.dangling[] | select(.kind == \"$k\")] | length" "$TMP/fsck.json")" \
    = "$(jfield ".dead_${k}s")"
done
check "stats agree" test "$(jfield .after.chunks)" -eq "$(( $(jfield .before.chunks) - $(jfield .dead_chunks) ))"
check "stats after = z4vc stats" test "$(z4vc stats --json | jq .chunks)" -eq "$(jfield .after.chunks)"
z4vc fsck --json >"$TMP/out.json" 2>/dev/null
check "nothing dangling now" jq -e '.ok and (.dangling | length) == 0' "$TMP/out.json"

t "delta bases of a deleted run are kept"
git update-ref -d refs/heads/ckpt/a
z4vc gc --json >"$TMP/out.json"
check "a's own objects went" test "$(jfield .dead_chunks)" -gt 0
check "bases kept" test "$(jfield .kept_bases)" -gt 0
check "fsck --full after gc" z4vc fsck --full
check "checkout b" z4vc checkout --run b --step 3 -o "$TMP/b3"
check "b byte-exact" same_tree "$TMP/b3" "$(step "$A" 3)"

t "fsck finds a corrupt chunk"
cp -r "$(git rev-parse --git-dir)/z4vc/store" "$TMP/store.bak"
sdir=$(git rev-parse --git-dir)/z4vc/store
mdb_dump -s chunks "$sdir" >"$TMP/dump"
# the first record: key line, then value line; flip the value's last nibble
key=$(sed -n '/^HEADER=END/{n;p;q}' "$TMP/dump")
val=$(sed -n '/^HEADER=END/{n;n;p;q}' "$TMP/dump")
last=${val: -1}; case $last in 0) new=1 ;; *) new=0 ;; esac
{ sed -n '1,/^HEADER=END/p' "$TMP/dump"; echo "$key"; echo "${val%?}$new"; echo DATA=END; } >"$TMP/load"
check "rewrite one chunk" mdb_load -s chunks -f "$TMP/load" "$sdir"
hex=$(echo "$key" | tr -d ' ')
check_fails "fsck fails" "chunk $hex" z4vc fsck
cp "$TMP/stderr" "$TMP/fsck.err"
check "summary line" grep -qE '^z4vc: fsck: [0-9]+ problems?$' "$TMP/fsck.err"
z4vc fsck --json >"$TMP/out.json" 2>/dev/null
check "json names it" jq -e --arg h "$hex" '.ok == false and ([.problems[] | select(.kind == "chunk" and .id == $h)] | length) >= 1' "$TMP/out.json"
rm -rf "$sdir" && cp -r "$TMP/store.bak" "$sdir"
check "restored" z4vc fsck

t "fsck finds a pointer naming nothing"
sha=$(printf 'no such file' | sha256sum | cut -d' ' -f1)
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 12\n' "$sha" >"$TMP/ptr"
blob=$(git hash-object -w "$TMP/ptr")
tree=$(printf '100644 blob %s\tghost.bin\n' "$blob" | git mktree)
git update-ref refs/heads/ghost "$(git commit-tree "$tree" -m ghost)"
check_fails "fsck fails" "recipe sha256:$sha: not in the store" z4vc fsck
check_fails "gc refuses" "nothing deleted" z4vc gc
git update-ref -d refs/heads/ghost
check "clean again" z4vc fsck

t "prune keeps the right steps"
R2=$TMP/repo2
new_repo "$R2"
cd "$R2"
for s in $(seq 0 9); do z4vc commit "$(step "$A" $s)" --step $s --run r >/dev/null; done
old=$(git rev-parse ckpt/r)
declare -A oldtree
for s in $(seq 0 9); do oldtree[$s]=$(git rev-parse "ckpt/r~$((9 - s))^{tree}"); done
out_has "dry run" "would keep 4 of 10" z4vc prune --run r --keep-last 2 --keep-every 4 --dry-run
check "dry run changes nothing" test "$(git rev-parse ckpt/r)" = "$old"
check "prune" z4vc prune --run r --keep-last 2 --keep-every 4
check "kept steps" test "$(git log --format='%(trailers:key=Z4vc-Step,valueonly)' ckpt/r | grep . | tr '\n' ' ')" = "9 8 4 0 "
for s in 0 4 8 9; do
  c=$(z4vc log --run r --json | jq -r ".[] | select(.step == $s) | .commit")
  check "step $s same tree" test "$(git rev-parse "$c^{tree}")" = "${oldtree[$s]}"
done
check "message and trailers kept" test "$(git log -1 --format=%B ckpt/r~1 | grep -c '^Z4vc-')" -eq 2
check "old tip in the reflog" test "$(git rev-parse ckpt/r@{1})" = "$old"
check_fails "step 5 gone from the run" "step 5" z4vc checkout --run r --step 5 -o "$TMP/x"
z4vc stats --json >"$TMP/before.json"
z4vc gc --json >"$TMP/out.json"
check "reflog keeps the old steps" test "$(jfield .dead_chunks)" -eq 0
check "old tip still checks out" z4vc checkout "$old" -o "$TMP/old9"
size_before=$(data_size)
z4vc gc --now --json >"$TMP/out.json"
check "gc --now collects" test "$(jfield .dead_chunks)" -gt 0
check "reflog expired" test "$(jfield .reflog_entries_expired)" -gt 0
check "store shrank (stats)" test "$(z4vc stats --json | jq .stored_bytes)" -lt "$(jq .stored_bytes "$TMP/before.json")"
check "compacted" jq -e '.compacted == true and .file_after < .file_before' "$TMP/out.json"
check "data.mdb shrank" test "$(data_size)" -lt "$size_before"
for s in 0 4 8 9; do
  check "checkout step $s" z4vc checkout --run r --step $s -o "$TMP/p$s"
  check "step $s byte-exact" same_tree "$TMP/p$s" "$(step "$A" $s)"
done
check "fsck --full after prune + gc" z4vc fsck --full
check "no compaction leftovers" test ! -e "$(git rev-parse --git-dir)/z4vc/store.compact"

t "repack changes encodings, not ids"
R3=$TMP/repo3
new_repo "$R3"
cd "$R3"
for s in $(seq 0 9); do z4vc commit "$(step "$A" $s)" --step $s --run r >/dev/null; done
deltas() { z4vc show --run r --step "$1" --json | jq '[.files[].tensors[]?.deltas] | add'; }
keys() { mdb_dump -s chunks "$(git rev-parse --git-dir)/z4vc/store" | sed -n '/^HEADER=END/,$p' | awk 'NR % 2 == 0' | sha256sum; }
tip=$(git rev-parse ckpt/r)
ids=$(keys)
d2=$(deltas 2)
check "step 2 has deltas" test "$d2" -gt 0
check "repack K=2" z4vc repack --keyframe-interval 2
check "step 2 now keyframes" test "$(deltas 2)" -eq 0
check "step 3 still deltas" test "$(deltas 3)" -gt 0
check "same chunk ids" test "$(keys)" = "$ids"
check "same commits" test "$(git rev-parse ckpt/r)" = "$tip"
check "fsck --full after repack" z4vc fsck --full
for s in $(seq 0 9); do
  check "checkout step $s" z4vc checkout --run r --step $s -o "$TMP/k$s"
  check "step $s byte-exact" same_tree "$TMP/k$s" "$(step "$A" $s)"
done
check "repack back to K=8" z4vc repack -k 8 --run r
check "step 2 deltas again" test "$(deltas 2)" -eq "$d2"
out_has "idempotent" "^rewrote 0 of" z4vc repack -k 8

finish
