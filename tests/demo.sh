#!/bin/sh
# The z4vc demo: simulate a training run (z4gen writes 8 checkpoints of a
# small GPT-style model: bf16 weights, fp32 master weights, AdamW state),
# commit every checkpoint, show the log and the stored size against the raw
# size, check out an older step and verify it byte for byte.
# Usage: sh tests/demo.sh [BUILD_DIR]   (default: build)
set -eu
build=$(cd "${1:-build}" && pwd)
z4vc=$build/cli/z4vc
z4gen=$build/tests/gen/z4gen
work=$(mktemp -d "${TMPDIR:-/tmp}/z4vc-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
export Z4VC_NO_PROGRESS=1

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

cd "$work"
say "z4gen --out ckpts --steps 400 --every 50 --layers 4 --d-model 64"
"$z4gen" --out ckpts --steps 400 --every 50 --layers 4 --d-model 64
du -sh ckpts

say "git init repo && cd repo && z4vc init"
git init -q repo
cd repo
git config user.name >/dev/null 2>&1 || git config user.name "z4vc demo"
git config user.email >/dev/null 2>&1 || git config user.email "demo@z4vc.invalid"
"$z4vc" init

for d in ../ckpts/step-*; do
  step=$(echo "$d" | sed 's/.*step-0*//')
  say "z4vc commit $d --step $step --run demo"
  "$z4vc" commit "$d" --step "$step" --run demo -m "demo step $step"
done

say "z4vc log --run demo"
"$z4vc" log --run demo
say "git log --oneline ckpt/demo"
git log --oneline ckpt/demo
say "z4vc stats"
"$z4vc" stats
raw=$(du -sb ../ckpts | cut -f1)
store=$(du -sb .git/z4vc/store | cut -f1)
echo "raw checkpoints: $raw bytes; store on disk: $store bytes"

say "z4vc show --step 100 --run demo   (first lines)"
"$z4vc" show --step 100 --run demo | head -8

say "z4vc checkout --step 100 --run demo -o restored"
"$z4vc" checkout --step 100 --run demo -o restored
say "diff -r restored ../ckpts/step-000100"
if diff -r restored ../ckpts/step-000100; then
  echo "step 100 restored byte for byte: OK"
else
  echo "step 100 differs: FAILED"; exit 1
fi
