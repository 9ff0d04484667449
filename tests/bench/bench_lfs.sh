#!/bin/bash
# bench_lfs.sh - `git add` of one big generated bf16 safetensors file with
# z4vc installed, next to the same with git-lfs, in one run: wall time and
# peak RSS of the whole `git add` (git and its filter process both count:
# /usr/bin/time reports the largest of the process tree's members).
# Usage: Z4VC=build/cli/z4vc Z4GEN=build/tests/gen/z4gen \
#        bash tests/bench/bench_lfs.sh [MB]   (default 1024)
set -eu
: "${Z4VC:?set Z4VC to the z4vc binary}" "${Z4GEN:?set Z4GEN to the z4gen binary}"
mb=${1:-1024}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/z4vc-bench-lfs.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export HOME=$TMP/home GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME" "$TMP/bin"
ln -s "$(realpath "$Z4VC")" "$TMP/bin/z4vc"
export PATH="$TMP/bin:$PATH"
git config --global user.name bench && git config --global user.email bench@z4vc.invalid

"$Z4GEN" --big-mb "$mb" --out "$TMP/model.safetensors" --step 1 >/dev/null
"$Z4GEN" --big-mb "$mb" --out "$TMP/model2.safetensors" --step 2 >/dev/null
size=$(stat -c %s "$TMP/model.safetensors")
echo "file: $((size / 1048576)) MiB bf16 safetensors"

run() { # run LABEL DIR FILE: time `git add` of FILE as model.safetensors
	cp "$3" "$2/model.safetensors"
	sync
	(cd "$2" && /usr/bin/time -f '%e %M' -o "$TMP/time" git add model.safetensors)
	read -r secs kb <"$TMP/time"
	printf '%-28s %8.2f s %8d MiB peak RSS %8.0f MB/s\n' "$1" "$secs" $((kb / 1024)) \
		"$(echo "$size / 1000000 / $secs" | bc -l)"
	(cd "$2" && git commit -qm "$1")
}

git init -q "$TMP/z4" && (cd "$TMP/z4" && z4vc install >/dev/null)
git init -q "$TMP/lfs" && (cd "$TMP/lfs" && git lfs install --local >/dev/null &&
	git lfs track '*.safetensors' >/dev/null && git add .gitattributes)
run "z4vc: git add v1" "$TMP/z4" "$TMP/model.safetensors"
run "git-lfs: git add v1" "$TMP/lfs" "$TMP/model.safetensors"
run "z4vc: git add v2 (delta)" "$TMP/z4" "$TMP/model2.safetensors"
run "git-lfs: git add v2" "$TMP/lfs" "$TMP/model2.safetensors"
echo "z4vc store:   $(du -sm "$TMP/z4/.git/z4vc" | cut -f1) MiB ($(cd "$TMP/z4" && z4vc stats --json | jq -c '{deltas, keyframes, stored_bytes}'))"
echo "git-lfs store: $(du -sm "$TMP/lfs/.git/lfs" | cut -f1) MiB"
