#!/bin/bash
# run.sh - the nightly crash run: N kill points during `z4vc commit`, each
# followed by the checks of tests/crash/lib.sh (fsck, every checkpoint
# byte-exact, the killed one whole or absent, the retry succeeds).
#
#   B=build-dir tests/crash/run.sh [N] [SEED]     (or set Z4VC and Z4GEN)
#
# N (default 200) trials walk a plan of 8 commits (small series steps and
# multi-batch big files, two runs) followed, when the binary has them, by
# `repack --keyframe-interval 1`, `prune --run a --keep-last 2` and
# `gc --now`: 11 trials per fresh repository. Each trial
# picks a kill mode at random: a system-call kill point (uniform over the
# file-changing calls the same commit made in a calibration pass), a torn
# write, a named code point, or an outside kill -9 after a random delay
# (uniform over 1.2 x the commit's calibrated duration).
# Prints a summary; exits 1 if any check failed. CRASH_LOG=FILE keeps the
# per-trial lines. Not in ctest (tests/e2e/test_crash.sh runs a few).
if [ -n "${B:-}" ]; then
  : "${Z4VC:=$B/cli/z4vc}" "${Z4GEN:=$B/tests/gen/z4gen}"
  export Z4VC Z4GEN
fi
N=${1:-200}
SEED=${2:-$$}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/lib.sh"
: "${CRASH_LOG:=$TMP/trials.log}"
: >"$CRASH_LOG"
. "$HERE/lib.sh"
RANDOM=$SEED
start=$(date +%s)
crash_setup
crash_calibrate
mapfile -t plan < <(crash_plan)
mapfile -t calib <"$CR/calib" # "CALLS MS" per plan job
points=(chunk-flush store-txn commit-git commit-ref commit-done)
maint=0
"$Z4VC" help | grep -qE '^ +repack ' && maint=1
cycle=$((${#plan[@]} + 3 * maint))

# maint_trial POINT CMD...: one random kill of a maintenance command.
maint_trial() {
  local point=$1 r c
  shift
  r=$((RANDOM % 100))
  if [ -n "$crash_shim" ] && [ $r -lt 70 ]; then
    c=$(crash_calls "$@")
    [ "${c:-0}" -ge 1 ] || c=1
    mode=sys; [ $r -lt 15 ] && mode=torn
    arg=$((RANDOM % c + 1))
  elif [ $r -lt 85 ] && [ "$point" != - ]; then
    mode=point; arg=$point
  else
    mode=delay; arg=$(printf '0.%03d' $((RANDOM % 500)))
  fi
  crash_maint_trial "$mode" "$arg" "$@"
}

for ((i = 0; i < N; i++)); do
  j=$((i % cycle))
  [ $j = 0 ] && crash_new_repo
  case $j in
  8) maint_trial repack-batch:$((RANDOM % 2 + 1)) repack --keyframe-interval 1; continue ;;
  9) # a kill may leave the old history or the pruned one: only the kept
     # steps must never go missing
     awk '$1 != "a" || $2 >= 150' "$CR/expected" >"$CR/kept" && mv "$CR/kept" "$CR/expected"
     maint_trial - prune --run a --keep-last 2 --keep-every 0; continue ;;
  10) maint_trial gc-delete:1 gc --now; continue ;;
  esac
  read -r run step dir <<<"${plan[$j]}"
  big=0; [ "$run" = b ] && big=1
  read -r c ms <<<"${calib[$j]}"
  r=$((RANDOM % 100))
  if [ -n "$crash_shim" ] && [ $r -lt 55 ]; then
    mode=sys; arg=$((RANDOM % c + 1))
  elif [ -n "$crash_shim" ] && [ $r -lt 70 ]; then
    mode=torn; arg=$((RANDOM % c + 1))
  elif [ $r -lt 85 ]; then
    p=${points[$((RANDOM % ${#points[@]}))]}
    n=1
    case $p in chunk-flush | store-txn) [ $big = 1 ] && n=$((RANDOM % 2 + 1)) ;; esac
    mode=point; arg=$p:$n
  else
    # uniform over 1.2 x the commit's duration when it ran whole
    d=$((RANDOM % (ms * 12 / 10 + 1)))
    mode=delay; arg=$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))
  fi
  crash_trial "$mode" "$arg" "$run" "$step" "$dir"
done

end=$(date +%s)
killed=$(grep -c ' rc=137 ' "$CRASH_LOG")
echo "crash run: $N trials, seed $SEED, $((end - start)) s"
echo "  killed: $killed; finished before the kill point: $((N - killed))"
echo "  after the kill: $(grep -c ' present ' "$CRASH_LOG") step present," \
  "$(grep -c ' absent ' "$CRASH_LOG") absent"
for m in sys torn point delay; do
  echo "  $m: $(grep -c "^$m " "$CRASH_LOG") trials"
done
for c in commit repack prune gc; do
  echo "  during $c: $(grep -c " $c " "$CRASH_LOG") trials"
done
echo "  calls, ms per commit (plan order): $(printf '%s; ' "${calib[@]}")"
echo "  stale git locks left by a kill (aged past the threshold, removed by the retry): $crash_stale_locks"
echo "  trials with a failed check: $(grep -c 'FAILED$' "$CRASH_LOG")"
echo "  z4vc fsck used: $([ $crash_fsck = 1 ] && echo yes || echo no, not in this binary)"
finish
