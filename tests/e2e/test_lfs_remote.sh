#!/bin/bash
# End-to-end: z4vc with real Git LFS repositories. The git-lfs client with
# 'z4vc transfer-agent' as its standalone transfer agent (git push, then a
# fresh git clone), and migration with 'z4vc import-lfs': every commit id
# unchanged, every version of every file byte-exact through z4vc.
. "$(dirname "$0")/lib.sh"
: "${Z4GEN:?set Z4GEN to the z4gen binary}"
export PATH="$(dirname "$Z4VC"):$PATH"
git lfs version >/dev/null 2>&1 || { echo "git-lfs not installed: skipped"; exit 77; }
git lfs install --skip-repo >/dev/null

CK=$TMP/ck
"$Z4GEN" --out "$CK" --steps 200 --every 50 --layers 2 --d-model 32 --init >/dev/null
steps="0 50 100 150 200"

# A plain Git LFS repository: one commit per checkpoint, plus a binary file.
L=$TMP/lfs
git init -q "$L"
cd "$L"
git lfs track '*.safetensors' '*.bin' >/dev/null
for s in $steps; do
  cp "$CK/step-$(printf %06d $s)"/* .
  head -c 200000 /dev/urandom >extra.bin
  cp extra.bin "$TMP/extra-$s.bin"
  git add -A && git commit -qm "step $s"
done
git tag v0 HEAD~4

t "migration: import-lfs keeps every commit id"
before=$(git for-each-ref --format='%(objectname) %(refname)'; git log --all --format=%H)
check "z4vc install" z4vc install
check "z4vc import-lfs" z4vc import-lfs
cp "$TMP/stdout" "$TMP/import.out"
check "imported every object" grep -q "imported 20 objects" "$TMP/import.out"
after=$(git for-each-ref --format='%(objectname) %(refname)'; git log --all --format=%H)
check "commit ids unchanged" test "$before" = "$after"
check "import again stores nothing" z4vc import-lfs
cp "$TMP/stdout" "$TMP/import.out"
check "nothing new" grep -q "imported 0 objects (20 already" "$TMP/import.out"

t "migration: every version checks out byte-exact through z4vc"
i=4
for s in $steps; do
  out=$TMP/co-$s
  check "checkout step $s" z4vc checkout "HEAD~$i" -o "$out"
  check "step $s identical" diff -r -x .gitattributes -x extra.bin "$out" "$CK/step-$(printf %06d $s)"
  check "step $s extra.bin" cmp "$out/extra.bin" "$TMP/extra-$s.bin"
  i=$((i - 1))
done
# delta bases came from the previous version of each path in history
check "stored with deltas" bash -c "z4vc stats | grep -Eq '[1-9][0-9]* deltas'"
check "safetensors stored per tensor" bash -c "z4vc stats | grep -Eq '^(BF16|F32|F16) '"

t "migration: the z4vc filter takes over the work tree"
rm -f model.safetensors extra.bin
check "git checkout through the z4vc filter" git checkout -- model.safetensors extra.bin
check "model identical" cmp model.safetensors "$CK/step-000200/model.safetensors"
check "status clean but .gitattributes" \
  test "$(git status --porcelain | grep -v .gitattributes)" = ""

# git-lfs with z4vc as its standalone transfer agent.
agent() {
  git config lfs.standalonetransferagent z4vc
  git config lfs.customtransfer.z4vc.path z4vc
  git config lfs.customtransfer.z4vc.args transfer-agent
  git config lfs.customtransfer.z4vc.concurrent false
}

t "git-lfs + z4vc transfer agent: git push, then a fresh clone"
A=$TMP/agent
BARE=$TMP/agent.git
git init -q --bare "$BARE"
git init -q "$A"
cd "$A"
agent
git lfs track '*.safetensors' '*.bin' >/dev/null
for s in 100 200; do
  cp "$CK/step-$(printf %06d $s)"/* . && cp "$TMP/extra-$s.bin" extra.bin
  git add -A && git commit -qm "step $s"
done
git remote add origin "$BARE"
check "git push through the agent" git push -q origin main
check "objects in the z4vc remote" test -n "$(ls "$BARE"/z4vc/packs/*.z4x 2>/dev/null)"
check "no git-lfs objects on the remote" test ! -d "$BARE/lfs"
AC=$TMP/agent-clone
check "git clone through the agent" git -c lfs.standalonetransferagent=z4vc \
  -c lfs.customtransfer.z4vc.path=z4vc -c lfs.customtransfer.z4vc.args=transfer-agent \
  clone -q "$BARE" "$AC"
check "files identical" diff -r -x .git -x .gitattributes -x extra.bin "$AC" "$CK/step-000200"
check "extra.bin identical" cmp "$AC/extra.bin" "$TMP/extra-200.bin"
check "status clean" test -z "$(cd "$AC" && git status --porcelain)"

t "import-lfs --fetch: every version through the agent, then z4vc"
F=$TMP/fetch-clone
check "clone without smudging" env GIT_LFS_SKIP_SMUDGE=1 git clone -q "$BARE" "$F"
cd "$F"
agent
check "import-lfs --fetch" z4vc import-lfs --fetch
cp "$TMP/stdout" "$TMP/import.out"
# the agent already put what git-lfs fetched into the z4vc store
check "both versions present" grep -q "(8 already in z4vc)" "$TMP/import.out"
check "checkout step 100" z4vc checkout HEAD~1 -o "$TMP/f100"
check "step 100 identical" diff -r -x .gitattributes -x extra.bin "$TMP/f100" "$CK/step-000100"

t "transfer agent: errors per object, agent goes on"
cd "$A"
req='{"event":"init","operation":"download","remote":"origin","concurrent":false,"concurrenttransfers":1}
{"event":"download","oid":"0000000000000000000000000000000000000000000000000000000000000000","size":5}
{"event":"download","oid":"zz","size":5}
{"event":"terminate"}'
check "agent runs" bash -c "printf '%s\n' '$req' | z4vc transfer-agent >'$TMP/agent.out'"
check "init acknowledged" test "$(sed -n 1p "$TMP/agent.out")" = "{}"
check "missing object is an error" grep -q '"oid":"0000.*"error"' "$TMP/agent.out"
check "bad oid is an error" grep -q '"oid":"zz".*"error"' "$TMP/agent.out"

t "mixed repository: what z4vc lacks is served as git-lfs would"
M=$TMP/mixed
git init -q "$M"
cd "$M"
git lfs track '*.safetensors' >/dev/null
cp "$CK/step-000050/model.safetensors" .
git add -A && git commit -qm "lfs only"
check "switch to z4vc without importing" z4vc install
rm -f model.safetensors
check "checkout from .git/lfs/objects" git checkout -- model.safetensors
check "bytes from the Git LFS object" cmp model.safetensors "$CK/step-000050/model.safetensors"
# the same with nothing local: git-lfs fetches from its own server (file://)
MB=$TMP/mixed-bare.git
git init -q --bare "$MB"
git remote add origin "file://$MB"
check "git push" git push -q --no-verify origin HEAD:main
check "git-lfs push to its file:// server" git lfs push --all origin
MC=$TMP/mixed-clone
check "clone, pointers only" env GIT_LFS_SKIP_SMUDGE=1 git clone -q "file://$MB" "$MC"
cd "$MC"
check "clone holds a pointer" git lfs pointer --check --file=model.safetensors
check "z4vc install in the clone" z4vc install
rm -f model.safetensors
check "checkout through git-lfs's server" git checkout -- model.safetensors
check "bytes from the LFS server" cmp model.safetensors "$CK/step-000050/model.safetensors"

finish
