#!/bin/bash
# valgrind.sh - the end-to-end tests with the z4vc binary under valgrind
# memcheck: every z4vc process the tests start runs through a wrapper that
# execs valgrind on the real binary, one log per process.
#
#   tests/valgrind.sh BUILD_DIR [TEST...]     e.g. tests/valgrind.sh build cli badinput
#
# TEST names tests/e2e/test_TEST.sh (default: all but crash and
# crash_maint, which rerun the same paths hundreds of times and take hours
# under valgrind; name them to include them). Fails if any
# test fails or any log shows a memcheck error (invalid read/write, use of
# uninitialised values, bad free, definite leak). Expected-failure checks
# cannot hide an error: the verdict reads the logs, not only exit codes.
# Kill tests work (valgrind dies with its client). Logs stay in $VG_LOGS (default a temp dir);
# VG_OPTS adds valgrind options (e.g. --track-origins=yes, 2-3x slower).
# No suppressions are needed today.
set -u
B=${1:?usage: tests/valgrind.sh BUILD_DIR [TEST...]}
shift
B=$(cd "$B" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 77; }
VG_LOGS=${VG_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/z4vc-vg.XXXXXX")}
mkdir -p "$VG_LOGS"
wrap=$VG_LOGS/z4vc
cat >"$wrap" <<EOF
#!/bin/sh
exec valgrind --quiet --error-exitcode=99 --leak-check=full \\
  --errors-for-leak-kinds=definite --show-leak-kinds=definite \\
  ${VG_OPTS:-} --log-file="$VG_LOGS/vg.%p.log" "$B/cli/z4vc" "\$@"
EOF
chmod +x "$wrap"

if [ $# -eq 0 ]; then
  set -- $(cd "$HERE/e2e" && ls test_*.sh | sed 's/^test_//; s/\.sh$//' | grep -v '^crash')
fi
rc=0
for t in "$@"; do
  start=$(date +%s)
  Z4VC=$wrap Z4GEN=$B/tests/gen/z4gen Z4_CORPUS=${Z4_CORPUS:-$HERE/../../shared/corpus} \
    bash "$HERE/e2e/test_$t.sh" >"$VG_LOGS/$t.out" 2>&1
  r=$?
  case $r in
  0) echo "e2e_$t: passed ($(($(date +%s) - start)) s)" ;;
  77) echo "e2e_$t: skipped" ;;
  *) echo "e2e_$t: FAILED (exit $r; $VG_LOGS/$t.out)"; tail -5 "$VG_LOGS/$t.out"; rc=1 ;;
  esac
done
# With --quiet a log holds only errors; an empty one is a clean process.
nlogs=$(find "$VG_LOGS" -name 'vg.*.log' | wc -l)
dirty=$(find "$VG_LOGS" -name 'vg.*.log' -size +0 | sort)
echo "valgrind: $nlogs z4vc processes, $(echo "$dirty" | grep -c .) with errors"
if [ -n "$dirty" ]; then
  rc=1
  for f in $(echo "$dirty" | head -5); do echo "--- $f"; head -40 "$f"; done
fi
echo "logs: $VG_LOGS"
exit $rc
