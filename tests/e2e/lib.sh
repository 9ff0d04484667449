# lib.sh - a tiny harness for end-to-end tests of the z4vc binary.
# Each test script sources this, calls `t NAME` before each case and the
# check helpers; `finish` prints "N passed, N failed" and sets the exit code.
# Needs: Z4VC (path of the binary), optional Z4GEN, Z4_CORPUS.
set -u
: "${Z4VC:?set Z4VC to the z4vc binary}"
passed=0
failed=0
current=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/z4vc-e2e.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export GIT_CONFIG_NOSYSTEM=1 HOME="$TMP/home" Z4VC_NO_PROGRESS=1
mkdir -p "$HOME"
git config --global user.name "z4vc test"
git config --global user.email "test@z4vc.invalid"
git config --global init.defaultBranch main

z4vc() { "$Z4VC" "$@"; }

t() { current=$1; }

ok() { passed=$((passed + 1)); }

bad() {
  failed=$((failed + 1))
  echo "FAIL: $current: $*" >&2
}

# check DESCRIPTION CMD...: the command must succeed.
check() {
  desc=$1; shift
  if "$@" >"$TMP/stdout" 2>"$TMP/stderr"; then ok; else
    bad "$desc (exit $?)"; sed 's/^/    /' "$TMP/stderr" "$TMP/stdout" | tail -20 >&2
  fi
}

# check_fails DESCRIPTION PATTERN CMD...: the command must exit non-zero with
# a "z4vc: ...: ..." line on stderr matching the grep -E PATTERN.
check_fails() {
  desc=$1; pat=$2; shift 2
  if "$@" >"$TMP/stdout" 2>"$TMP/stderr"; then
    bad "$desc: succeeded but should have failed"; return
  fi
  if ! grep -qE '^z4vc: .+: .+' "$TMP/stderr"; then
    bad "$desc: no 'z4vc: <what>: <why>' error"; sed 's/^/    /' "$TMP/stderr" >&2; return
  fi
  if ! grep -qE "$pat" "$TMP/stderr"; then
    bad "$desc: error does not match /$pat/"; sed 's/^/    /' "$TMP/stderr" >&2; return
  fi
  ok
}

# same_tree A B: identical file lists and bytes.
same_tree() { diff -r "$1" "$2" >/dev/null 2>&1; }

# Snapshot of everything that must not change: refs and store contents.
state() {
  (cd "$1" && git for-each-ref --format="%(refname) %(objectname)"
   d=$(git rev-parse --git-dir)/z4vc/store
   if [ -d "$d" ]; then mdb_dump -a "$d" | sha256sum; fi)
}

new_repo() {
  rm -rf "$1" && git init -q "$1" && (cd "$1" && "$Z4VC" init >/dev/null)
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
