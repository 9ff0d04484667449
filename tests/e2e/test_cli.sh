#!/bin/bash
# End-to-end: commit a generated training run with the z4vc binary, then
# check the result with the real git and git-lfs clients, check out steps
# and compare bytes.
. "$(dirname "$0")/lib.sh"
: "${Z4GEN:?set Z4GEN to the z4gen binary}"

CK=$TMP/ck
"$Z4GEN" --out "$CK" --steps 200 --every 50 --layers 2 --d-model 32 --init >/dev/null
mkdir -p "$CK/step-000100/tokenizer" && printf '{"vocab": "bytes"}\n' \
  >"$CK/step-000100/tokenizer/tokenizer.json"
head -c 1500000 /dev/urandom >"$CK/step-000150/extra.bin"
R=$TMP/repo
new_repo "$R"
cd "$R"
echo "readme" >README && git add README && git commit -qm init
echo "dirty" >>README
head_before=$(git rev-parse HEAD)
status_before=$(git status --porcelain)

t "commit every step"
for s in 0 50 100 150 200; do
  check "commit step $s" z4vc commit "$CK/step-$(printf %06d $s)" --step $s --run gpt -m "lr step $s"
done

t "git sees one commit per checkpoint"
check "git log" test "$(git log --format=%s ckpt/gpt | wc -l)" -eq 5
check "trailers" test "$(git log -1 --format='%(trailers:key=Z4vc-Step,valueonly)' ckpt/gpt)" = 200
check "run trailer" test "$(git log -1 --format='%(trailers:key=Z4vc-Run,valueonly)' ckpt/gpt)" = gpt
check "message" test "$(git log -1 --format=%s ckpt/gpt~1)" = "lr step 150"
check "HEAD untouched" test "$(git rev-parse HEAD)" = "$head_before"
check "index and work tree untouched" test "$(git status --porcelain)" = "$status_before"
check "git fsck" git fsck --strict --no-progress

t "pointers are Git LFS v1 pointers"
git cat-file -p ckpt/gpt:model.safetensors >"$TMP/ptr"
check "pointer accepted by git-lfs --strict" git lfs pointer --check --strict --file="$TMP/ptr"
git lfs pointer --file="$CK/step-000200/model.safetensors" 2>/dev/null >"$TMP/lfsptr"
check "pointer identical to git-lfs's" cmp "$TMP/ptr" "$TMP/lfsptr"
check "config.json is a plain blob" cmp <(git cat-file -p ckpt/gpt:config.json) "$CK/step-000200/config.json"
check "subdirectory kept" cmp <(git cat-file -p ckpt/gpt~2:tokenizer/tokenizer.json) \
  "$CK/step-000100/tokenizer/tokenizer.json"
git cat-file -p ckpt/gpt~1:extra.bin >"$TMP/ptr2"
check "large binary file is a pointer" git lfs pointer --check --strict --file="$TMP/ptr2"

t "checkout by step is byte-exact"
for s in 0 50 100 150 200; do
  d=$TMP/out-$s
  check "checkout step $s" z4vc checkout --step $s --run gpt -o "$d"
  check "step $s identical" same_tree "$d" "$CK/step-$(printf %06d $s)"
done

t "checkout by commit-ish"
check "checkout ckpt/gpt~3" z4vc checkout ckpt/gpt~3 -o "$TMP/rev"
check "ckpt/gpt~3 = step 50" same_tree "$TMP/rev" "$CK/step-000050"
id=$(git rev-parse ckpt/gpt~4)
check "checkout by id" z4vc checkout "$id" -o "$TMP/byid"
check "id = step 0" same_tree "$TMP/byid" "$CK/step-000000"
check "checkout one file" z4vc checkout --step 100 --run gpt -o "$TMP/one" --file model.safetensors
check "only that file" test "$(ls "$TMP/one")" = model.safetensors
check "its bytes" cmp "$TMP/one/model.safetensors" "$CK/step-000100/model.safetensors"
cp -r "$TMP/out-200" "$TMP/over" && echo junk >"$TMP/over/model.safetensors"
check "checkout over an existing dir" z4vc checkout --step 200 --run gpt -o "$TMP/over"
check "overwritten exactly" same_tree "$TMP/over" "$CK/step-000200"

t "deltas are used"
z4vc show ckpt/gpt --json >"$TMP/show.json"
check "show --json is valid JSON" jq -e . "$TMP/show.json"
check "bf16 tensors delta-encoded" test "$(jq '[.files[] | select(.path=="model.safetensors") | .tensors[] | .deltas] | add' "$TMP/show.json")" -gt 0
check "first step is keyframes" test "$(z4vc show --step 0 --run gpt --json | jq '[.files[].tensors[]?.deltas] | add')" -eq 0
z4vc show --step 100 --run gpt >"$TMP/show.txt"
check "show lists tensors" grep -q "transformer.wte.weight" "$TMP/show.txt"

t "log and stats"
z4vc log --run gpt >"$TMP/log.txt"
check "log has 5 rows" test "$(grep -c ' gpt ' "$TMP/log.txt")" -eq 5
z4vc log --json >"$TMP/log.json"
check "log --json" jq -e 'length == 5 and .[0].step == 200 and .[4].step == 0 and .[0].raw_bytes > .[0].new_bytes' "$TMP/log.json"
check "log -n" test "$(z4vc log --json -n 2 | jq length)" -eq 2
z4vc stats --json >"$TMP/stats.json"
check "stats --json" jq -e '.format == 6 and .chunks > 0 and .deltas > 0 and .stored_bytes < .raw_bytes' "$TMP/stats.json"
check "stats per dtype" jq -e '[.dtypes[].dtype] | index("BF16") != null and index("F32") != null' "$TMP/stats.json"
check "stats text" z4vc stats

t "runs are independent branches"
check "second run" z4vc commit "$CK/step-000050" --run other --step 50
check "two runs in log" test "$(z4vc log --json | jq '[.[].run] | unique | length')" -eq 2
check "default run" z4vc commit "$CK/step-000100"
check "ckpt/main exists" git rev-parse -q --verify refs/heads/ckpt/main

t "keyframe interval"
R2=$TMP/repo2
new_repo "$R2"
for s in 0 50 100 150; do
  (cd "$R2" && z4vc commit "$CK/step-$(printf %06d $s)" --step $s --keyframe 2 >/dev/null)
done
cd "$R2"
check "K=2: step 50 deltas" test "$(z4vc show --step 50 --json | jq '[.files[].tensors[]?.deltas] | add')" -gt 0
# K=2: a chain holds at most one delta, so no tensor is a delta in two
# consecutive steps (a tensor whose delta was not worth it may start later)
deltas_at() { z4vc show --step "$1" --json | jq -c '[.files[] | .path as $p | .tensors[]? | select(.deltas > 0) | $p + ":" + .name]'; }
check "K=2: no delta on a delta" test "$(jq -n --argjson a "$(deltas_at 50)" --argjson b "$(deltas_at 100)" '$a - ($a - $b) | length')" -eq 0
git config z4vc.keyframeInterval 1
check "config K=1" z4vc commit "$CK/step-000200" --step 200
check "K=1: keyframes only" test "$(z4vc show --step 200 --json | jq '[.files[].tensors[]?.deltas] | add')" -eq 0
check "K=2 round trip" z4vc checkout --step 150 -o "$TMP/k2"
check "K=2 bytes" same_tree "$TMP/k2" "$CK/step-000150"
cd "$R"

t "thread count does not change the stored bytes"
dump() { # REPO: every record of the store, without LMDB's own header
  local d; d=$(git -C "$1" rev-parse --git-dir)/z4vc/store
  case $d in /*) ;; *) d=$1/$d ;; esac
  for db in chunks tensors recipes; do mdb_dump -s $db "$d" | sed '1,/^HEADER=END/d'; done | sha256sum
}
for j in 1 4; do
  new_repo "$TMP/j$j"
  for s in 0 50 100; do
    (cd "$TMP/j$j" && z4vc commit "$CK/step-$(printf %06d $s)" --step $s -j $j >/dev/null)
  done
done
check "-j 1 and -j 4 store identical bytes" test "$(dump "$TMP/j1")" = "$(dump "$TMP/j4")"
(cd "$TMP/j4" && z4vc checkout --step 100 -j 3 -o "$TMP/j4out" >/dev/null)
check "-j 3 checkout" same_tree "$TMP/j4out" "$CK/step-000100"

t "help"
check "z4vc help" z4vc help
z4vc help commit >"$TMP/help.txt"
check "help text" grep -q "usage: z4vc commit" "$TMP/help.txt"
for c in init commit checkout log show stats; do
  check "$c --help" z4vc $c --help
done
"$Z4VC" frobnicate 2>/dev/null; check "unknown command exits 129" test $? -eq 129
"$Z4VC" commit 2>/dev/null; check "missing argument exits 129" test $? -eq 129
"$Z4VC" log --bogus 2>/dev/null; check "unknown option exits 129" test $? -eq 129

finish
