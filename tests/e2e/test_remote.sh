#!/bin/bash
# End-to-end: z4vc remotes with the real git and git-lfs clients. Push to a
# bare repository on the local disk (objects in <bare>/z4vc/), clone it
# fresh (the filter fetches on smudge), skip smudging then 'z4vc pull',
# 'z4vc push/fetch' by hand, and a corrupt or truncated remote refused.
. "$(dirname "$0")/lib.sh"
: "${Z4GEN:?set Z4GEN to the z4gen binary}"
export PATH="$(dirname "$Z4VC"):$PATH" # the hooks and filters run 'z4vc'

CK=$TMP/ck
"$Z4GEN" --out "$CK" --steps 200 --every 50 --layers 2 --d-model 32 --init >/dev/null
BARE=$TMP/bare.git
git init -q --bare "$BARE"

# A work repository with weights committed through the z4vc filter.
W=$TMP/work
git init -q "$W"
cd "$W"
z4vc install >/dev/null
for s in 0 100 200; do
  cp "$CK/step-$(printf %06d $s)"/* .
  git add -A && git commit -qm "step $s"
done
git remote add origin "$BARE"

t "git push uploads objects through the pre-push hook"
check "git push" git push -q origin main
check "packs in the bare repo" test -n "$(ls "$BARE"/z4vc/packs/*.z4x 2>/dev/null)"
check "blobs are pointers" git lfs pointer --check --strict \
  --file=<(git cat-file -p main:model.safetensors)

t "a fresh git clone materializes byte-identical files"
z4vc install --global >/dev/null
C=$TMP/clone
check "git clone" git clone -q "$BARE" "$C"
check "model identical" cmp "$C/model.safetensors" "$CK/step-000200/model.safetensors"
check "every file identical" diff -r -x .git -x .gitattributes "$C" "$CK/step-000200"
check "status clean" test -z "$(cd "$C" && git status --porcelain)"
check "older commit checks out" bash -c "cd '$C' && git checkout -q HEAD~1 && \
  cmp model.safetensors '$CK/step-000100/model.safetensors'"

t "push of an unchanged history sends nothing new"
npacks=$(ls "$BARE"/z4vc/packs/*.z4x | wc -l)
check "z4vc push" z4vc push origin main
check "no new pack" test "$(ls "$BARE"/z4vc/packs/*.z4x | wc -l)" -eq "$npacks"

t "skip smudging, then z4vc pull"
S=$TMP/skip
check "clone without smudging" env Z4VC_SKIP_SMUDGE=1 git clone -q "$BARE" "$S"
check "left as pointers" git lfs pointer --check --file="$S/model.safetensors"
cd "$S"
check "z4vc pull" z4vc pull
check "model identical after pull" cmp model.safetensors "$CK/step-000200/model.safetensors"
check "every file identical after pull" diff -r -x .git -x .gitattributes . "$CK/step-000200"
check "status clean after pull" test -z "$(git status --porcelain)"
check "pull again is a no-op" z4vc pull

t "z4vc fetch and checkout without the filter"
F=$TMP/fetchonly
git init -q "$F"
cd "$F"
z4vc init >/dev/null
git remote add origin "$BARE"
git fetch -q origin
check "fetch every commit" z4vc fetch origin origin/main --all
check "checkout step 0" z4vc checkout origin/main~2 -o "$TMP/out0"
check "step 0 identical" diff -r -x .gitattributes "$TMP/out0" "$CK/step-000000"
check "checkout step 200" z4vc checkout origin/main -o "$TMP/out200"
check "step 200 identical" diff -r -x .gitattributes "$TMP/out200" "$CK/step-000200"

t "z4vc.url overrides the remote directory"
cd "$W"
git config remote.origin.z4vcurl "$TMP/objects"
check "push to the override" z4vc push origin main
check "packs there" test -n "$(ls "$TMP"/objects/packs/*.z4x 2>/dev/null)"
git config --unset remote.origin.z4vcurl
check_fails "non-local URL without z4vc.url" "not a local path" \
  bash -c "git remote add web https://example.invalid/r.git && z4vc push web main"

t "a corrupt object in the remote is detected, never written"
cp -r "$BARE" "$TMP/bad.git"
pack=$(ls "$TMP"/bad.git/z4vc/packs/*.z4p | head -1)
size=$(stat -c %s "$pack")
printf '\x55' | dd of="$pack" bs=1 seek=$((size / 2)) conv=notrunc status=none
# a fresh repository (empty store) whose origin is the damaged remote
fresh() {
  rm -rf "$TMP/g" && git init -q "$TMP/g" && cd "$TMP/g" && z4vc init >/dev/null &&
    git remote add origin "$TMP/bad.git" && git fetch -q origin
}
fresh
check_fails "corrupt pack" "checksum mismatch|corrupt|does not match" \
  z4vc fetch origin origin/main --all
# whatever was stored is right; the damaged file is not there at all
nbad=0
for k in 0 1 2; do
  if z4vc checkout "origin/main~$k" -o "$TMP/bad$k" >/dev/null 2>&1; then
    check "step ~$k intact" diff -r -x .gitattributes "$TMP/bad$k" "$CK/step-$(printf %06d $((200 - 100 * k)))"
  else
    nbad=$((nbad + 1))
  fi
done
check "the damaged file is missing, not wrong" test "$nbad" -ge 1

t "a truncated or garbage index is a clear error"
idx=$(ls "$TMP"/bad.git/z4vc/packs/*.z4x | head -1)
head -c 100 "$idx" >"$TMP/idx" && cp "$TMP/idx" "$idx"
fresh
check_fails "truncated index" "index .*z4x" z4vc fetch origin origin/main
echo garbage >"$idx"
check_fails "garbage index" "index .*z4x.*(magic|truncated)" z4vc fetch origin origin/main
rm "$idx"
truncate -s 50 "$pack"
check_fails "missing remote objects" "not in the remote|truncated|no z4vc objects" \
  z4vc fetch origin origin/main
check "nothing stored" bash -c "! z4vc checkout origin/main -o '$TMP/none' 2>/dev/null"

finish
