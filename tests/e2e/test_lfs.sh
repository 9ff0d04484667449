#!/bin/bash
# End-to-end: z4vc as a drop-in Git LFS replacement. After `z4vc install`,
# plain git (add, commit, checkout, status, diff, clone) stores weights in
# z4vc and restores them byte-exact; checked with the real git and git-lfs.
. "$(dirname "$0")/lib.sh"
: "${Z4GEN:?set Z4GEN to the z4gen binary}"
# git runs "z4vc filter-process" and the hooks run "z4vc": put it on PATH.
BIN=$TMP/bin
mkdir -p "$BIN" && ln -s "$Z4VC" "$BIN/z4vc"
export PATH="$BIN:$PATH"

CK=$TMP/ck
"$Z4GEN" --out "$CK" --steps 200 --every 100 --layers 2 --d-model 32 --init >/dev/null
V0=$CK/step-000000/model.safetensors
V1=$CK/step-000100/model.safetensors
V2=$CK/step-000200/model.safetensors
R=$TMP/repo
git init -q "$R"
cd "$R"

# pkt NAME: one text pkt-line "NAME\n"; flush: "0000".
pkt() { printf '%04x%s\n' $((${#1} + 5)) "$1"; }
flush() { printf '0000'; }
handshake() { pkt git-filter-client; pkt version=2; flush; pkt capability=clean; pkt capability=smudge; flush; }

t "existing hook before install"
mkdir -p .git/hooks
printf '#!/bin/sh\necho "old hook ran: $1" >>"%s/old-hook.log"\ncat >/dev/null\n' "$TMP" >.git/hooks/pre-push
chmod +x .git/hooks/pre-push
cp .git/hooks/pre-push "$TMP/old-pre-push"
# (git-lfs itself may add lfs.repositoryformatversion on first use: not ours)
git config --local --list | grep -v '^lfs\.repositoryformatversion=' | sort >"$TMP/config-before"

t "install"
check "z4vc install" z4vc install
check "filter.z4vc.process" test "$(git config filter.z4vc.process)" = "z4vc filter-process"
check "filter.z4vc.required" test "$(git config --bool filter.z4vc.required)" = true
check "clean/smudge commands" test "$(git config filter.z4vc.clean)" = "z4vc clean %f"
check "attributes" grep -qx '\*.safetensors filter=z4vc diff=z4vc merge=z4vc -text' .gitattributes
check "git check-attr" test "$(git check-attr filter -- a/b.gguf | cut -d' ' -f3)" = z4vc
check "old hook chained" cmp .git/hooks/pre-push.z4vc-chained "$TMP/old-pre-push"
check "our hook installed" grep -q z4vc-managed-hook .git/hooks/pre-push
cp .gitattributes "$TMP/attrs1"; git config --local --list | sort >"$TMP/config1"
cp .git/hooks/pre-push "$TMP/hook1"
check "install again" z4vc install
check "idempotent attributes" cmp .gitattributes "$TMP/attrs1"
check "idempotent config" cmp <(git config --local --list | sort) "$TMP/config1"
check "idempotent hook" cmp .git/hooks/pre-push "$TMP/hook1"
check "chained hook kept" cmp .git/hooks/pre-push.z4vc-chained "$TMP/old-pre-push"
check "track lists" test "$(z4vc track | wc -l)" -eq 8

t "add and commit through plain git"
cp "$V0" model.safetensors
echo '{"lr": 1}' >config.json
check "git add" git add .gitattributes model.safetensors config.json
check "git commit" git commit -qm v0
git cat-file -p HEAD:model.safetensors >"$TMP/ptr0"
check "blob is a strict LFS pointer" git lfs pointer --check --strict --file="$TMP/ptr0"
git lfs pointer --file="$V0" 2>/dev/null >"$TMP/lfsptr0"
check "pointer identical to git-lfs's" cmp "$TMP/ptr0" "$TMP/lfsptr0"
check "config.json stays a plain blob" cmp <(git cat-file -p HEAD:config.json) config.json
check "status clean" test -z "$(git status --porcelain)"
stats0=$(z4vc stats --json | jq .stored_bytes)

t "modify, commit: stored as deltas"
cp "$V1" model.safetensors
check "status sees the change" test "$(git status --porcelain)" = " M model.safetensors"
git diff >"$TMP/diff"
check "diff is the pointer change" grep -q '^+oid sha256:' "$TMP/diff"
check "diff shows sizes" grep -q '^ size \|^[-+]size ' "$TMP/diff"
check "commit v1" git commit -qam v1
cp "$V2" model.safetensors
check "commit v2" git commit -qam v2
z4vc stats --json >"$TMP/stats.json"
check "deltas used" test "$(jq .deltas "$TMP/stats.json")" -gt 0
check "v1+v2 cost less than two full copies" \
  test $(( $(jq .stored_bytes "$TMP/stats.json") - stats0 )) -lt $((2 * stats0))
for c in HEAD HEAD~1 HEAD~2; do
  git cat-file -p $c:model.safetensors >"$TMP/p"
  check "$c pointer strict" git lfs pointer --check --strict --file="$TMP/p"
done

t "checkout, switch, reset restore the real file"
check "checkout HEAD~2" git checkout -q HEAD~2
check "v0 byte-exact" cmp model.safetensors "$V0"
check "status clean after checkout" test -z "$(git status --porcelain)"
check "switch back" git switch -q -
check "v2 byte-exact" cmp model.safetensors "$V2"
check "reset --hard HEAD~1" git reset -q --hard HEAD~1
check "v1 byte-exact" cmp model.safetensors "$V1"
check "status clean after reset" test -z "$(git status --porcelain)"
git reset -q --hard ORIG_HEAD
rm model.safetensors
check "restore a deleted file" git checkout -- model.safetensors
check "restored byte-exact" cmp model.safetensors "$V2"
touch model.safetensors
check "re-clean yields the same pointer" test -z "$(git status --porcelain)"

t "z4vc checkout of a git-add branch"
check "z4vc checkout HEAD~1" z4vc checkout HEAD~1 -o "$TMP/co"
check "v1 via z4vc checkout" cmp "$TMP/co/model.safetensors" "$V1"
check "config.json via z4vc checkout" cmp "$TMP/co/config.json" config.json

t "single-shot clean and smudge"
z4vc clean model.safetensors <"$V2" >"$TMP/sptr"
check "clean = committed pointer" cmp "$TMP/sptr" <(git cat-file -p HEAD:model.safetensors)
z4vc clean x.bin <"$TMP/sptr" >"$TMP/sptr2"
check "clean of a pointer passes it through" cmp "$TMP/sptr" "$TMP/sptr2"
z4vc smudge model.safetensors <"$TMP/sptr" >"$TMP/sm"
check "smudge rebuilds" cmp "$TMP/sm" "$V2"
printf 'hello\0world' >"$TMP/plain"
check "smudge passes non-pointers" cmp <(z4vc smudge a.bin <"$TMP/plain") "$TMP/plain"
check "empty file cleans to empty" test -z "$(z4vc clean e.bin </dev/null)"

t "malformed and unknown pointers on smudge"
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:xyz\nsize 12\n' >"$TMP/bad"
check "malformed pointer passes through" cmp <(z4vc smudge a.bin <"$TMP/bad") "$TMP/bad"
unk=$(head -c 64 /dev/urandom | sha256sum | cut -c1-64)
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 1234\n' "$unk" >"$TMP/unk"
z4vc smudge u.bin <"$TMP/unk" >"$TMP/unk.out" 2>"$TMP/unk.err"
check "unknown oid: pointer kept" cmp "$TMP/unk.out" "$TMP/unk"
check "unknown oid: error names it" grep -q "^z4vc: smudge 'u.bin': .*$unk" "$TMP/unk.err"
# The same through git: a commit whose pointer names nothing we have.
blob=$(git hash-object -w "$TMP/unk")
git update-index --add --cacheinfo 100644 "$blob" ghost.bin && git commit -qm ghost
rm -f ghost.bin
git checkout -- ghost.bin 2>"$TMP/ghost.err"
check "checkout keeps the pointer" cmp ghost.bin "$TMP/unk"
check "checkout reports the oid" grep -q "$unk" "$TMP/ghost.err"
check "status clean with a kept pointer" test -z "$(git status --porcelain)"

t "filter-process protocol errors"
before=$(state "$R")
check_fails "garbage length" "filter-process: bad pkt-line length" \
  sh -c 'printf "zzzzhello" | z4vc filter-process'
check_fails "oversized packet" "filter-process: pkt-line length" \
  sh -c 'printf "ffff" | z4vc filter-process'
check_fails "wrong greeting" "filter-process: expected 'git-filter-client'" \
  sh -c "$(declare -f pkt flush); { pkt git-filter-server; flush; } | z4vc filter-process"
check_fails "no version 2" "filter-process: .*version 2" \
  sh -c "$(declare -f pkt flush); { pkt git-filter-client; pkt version=1; flush; } | z4vc filter-process"
check_fails "delim packet" "filter-process: unexpected special pkt-line 0001" \
  sh -c "$(declare -f pkt flush handshake); { handshake; printf 0001; } | z4vc filter-process"
check_fails "truncated content" "filter-process: truncated pkt-line" \
  sh -c "$(declare -f pkt flush handshake); { handshake; pkt command=clean; pkt pathname=m.safetensors; flush; printf '0100abc'; } | z4vc filter-process"
check_fails "content cut by end of input" "filter-process: unexpected end of input" \
  sh -c "$(declare -f pkt flush handshake); { handshake; pkt command=clean; pkt pathname=m.bin; flush; printf '0008abcd'; } | z4vc filter-process"
check_fails "unknown command" "filter-process: unknown or unnegotiated command 'explode'" \
  sh -c "$(declare -f pkt flush handshake); { handshake; pkt command=explode; pkt pathname=x; flush; } | z4vc filter-process"
check_fails "not key=value" "filter-process: expected 'key=value'" \
  sh -c "$(declare -f pkt flush handshake); { handshake; pkt 'hello world'; flush; } | z4vc filter-process"
check "store unchanged by garbage" test "$(state "$R")" = "$before"
{ handshake; pkt command=clean; pkt pathname=x.bin; flush; printf '0009hello'; flush; } |
  z4vc filter-process >"$TMP/fp.out" 2>"$TMP/fp.err"
check "a well-formed clean works" grep -q 'status=success' "$TMP/fp.out"
check "answer carries a pointer" grep -q 'oid sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824' "$TMP/fp.out"

t "uninstall restores"
check "uninstall" z4vc uninstall
git config --local --list | grep -v '^lfs\.repositoryformatversion=' | sort >"$TMP/config-after"
check "config restored" diff "$TMP/config-before" "$TMP/config-after"
check "old hook restored" cmp .git/hooks/pre-push "$TMP/old-pre-push"
check "no chained copy left" test ! -e .git/hooks/pre-push.z4vc-chained
check "install-added attributes removed" test ! -s .gitattributes
git checkout -q -- .gitattributes # committed: keep the repo usable below
check "reinstall" z4vc install

t "chained hook still runs"
git init -q --bare "$TMP/origin.git"
git remote add origin "$TMP/origin.git"
git push -q origin HEAD:refs/heads/main >/dev/null 2>&1
check "old pre-push hook ran" grep -q "old hook ran: origin" "$TMP/old-hook.log"

t "track and untrack"
check "track a pattern" z4vc track '*.npz'
check "listed" grep -qx '\*.npz' <(z4vc track)
check "track twice is a no-op" z4vc track '*.npz'
check "one line" test "$(grep -c '^\*.npz ' .gitattributes)" -eq 1
check "untrack" z4vc untrack '*.npz'
check "gone" test "$(grep -c '^\*.npz ' .gitattributes)" -eq 0
check_fails "bad pattern" "track: .*not a usable pattern" z4vc track 'a b'

t "migrate from git-lfs"
L=$TMP/lfsrepo
git init -q "$L" && cd "$L"
git lfs install --local >/dev/null
git lfs track '*.safetensors' >/dev/null
cp "$V0" model.safetensors && git add .gitattributes model.safetensors && git commit -qm lfs
lfs_ptr=$(git cat-file -p HEAD:model.safetensors | sha256sum)
check "install over git-lfs" z4vc install
check "lfs line switched" grep -qx '\*.safetensors filter=z4vc diff=z4vc merge=z4vc -text' .gitattributes
check "no filter=lfs left" test "$(grep -c 'filter=lfs' .gitattributes)" -eq 0
cp "$V1" model.safetensors && git commit -qam z4
check "new pointer is strict LFS" sh -c 'git cat-file -p HEAD:model.safetensors | git lfs pointer --check --strict --stdin'
check "old pointer unchanged" test "$(git cat-file -p HEAD~1:model.safetensors | sha256sum)" = "$lfs_ptr"
check "uninstall" z4vc uninstall
check "switched back to lfs" grep -q '^\*.safetensors filter=lfs diff=lfs merge=lfs -text' .gitattributes

t "clone fetches missing objects in one delayed batch"
A=$TMP/a
git init -q "$A" && cd "$A" && z4vc install >/dev/null
cp "$CK"/step-000100/*.safetensors . && git add . && git commit -qm one
git init -q --bare "$TMP/o2.git" && git remote add origin "$TMP/o2.git"
check "z4vc push" z4vc push origin HEAD
check "git push" git push -q --no-verify origin HEAD:refs/heads/main
check "install --global" z4vc install --global
check "global config" test "$(git config --global filter.z4vc.process)" = "z4vc filter-process"
cd "$TMP"
GIT_TRACE_PACKET="$TMP/trace" git clone -q "$TMP/o2.git" c 2>"$TMP/clone.err"
for f in "$CK"/step-000100/*.safetensors; do
  check "cloned $(basename "$f") byte-exact" cmp "c/$(basename "$f")" "$f"
done
check "smudges were delayed" test "$(grep -c 'status=delayed' "$TMP/trace")" -ge 3
check "one list_available_blobs batch" grep -q 'command=list_available_blobs' "$TMP/trace"
check "clone status clean" test -z "$(git -C c status --porcelain)"

t "clone with an object missing on the remote"
cd "$A" && printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 99\n' "$unk" >"$TMP/unk2"
blob=$(git hash-object -w "$TMP/unk2")
git update-index --add --cacheinfo 100644 "$blob" lost.bin && git commit -qm lost
git push -q --no-verify origin HEAD:refs/heads/main
cd "$TMP" && git clone -q "$TMP/o2.git" c2 2>"$TMP/clone2.err"
check "clone finished" test -f c2/model.safetensors
check "present files real" cmp c2/model.safetensors "$CK/step-000100/model.safetensors"
check "missing file keeps its pointer" cmp c2/lost.bin "$TMP/unk2"
check "error names the oid" grep -q "$unk" "$TMP/clone2.err"
check "uninstall --global" z4vc uninstall --global
check "global config gone" test -z "$(git config --global filter.z4vc.process)"

finish
