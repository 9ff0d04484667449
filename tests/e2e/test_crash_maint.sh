#!/bin/bash
# End-to-end: kill -9 during the maintenance commands (repack, prune, gc),
# at their named points and at system calls spread over them (LMDB's
# commits, the compacting copy and its rename, ref rewrites), then check
# the repository as tests/crash/lib.sh does after a killed commit: fsck,
# every checkpoint on every ref byte-exact, none lost; the command run
# again succeeds.
. "$(dirname "$0")/lib.sh"
CRASH_BIG_MB=${CRASH_BIG_MB:-8} # smaller than commit kills need: faster checks
. "$(dirname "$0")/../crash/lib.sh"
for c in gc prune repack; do
  if ! "$Z4VC" help 2>/dev/null | grep -qE "^ +$c "; then
    echo "skipped: this z4vc has no '$c'"
    exit 77
  fi
done

crash_setup
crash_new_repo
crash_commit_plan

# snapshot / restore: each kill of a command starts from the same state
# (after a retry the work is done, and a second kill would find none).
snapshot() { rm -rf "$CR/snap" && cp -a "$CRR" "$CR/snap"; }
restore() { rm -rf "$CRR" && cp -a "$CR/snap" "$CRR"; }

# maint_kills POINT CMD...: from the snapshot, kill CMD at its named point
# POINT ("-": none), then at system calls 1/4, 1/2 (torn) and 3/4 of the
# way through it, and after a delay of half its duration.
maint_kills() {
  local point=$1 n k mode t0 ms
  shift
  snapshot
  if [ "$point" != - ]; then crash_maint_trial point "$point" "$@"; restore; fi
  n=$([ -n "$crash_shim" ] && crash_calls "$@" || echo 0)
  for k in 1 2 3; do
    [ "$n" -ge 4 ] || break
    mode=sys; [ $k = 2 ] && mode=torn
    crash_maint_trial $mode $((k * n / 4)) "$@"
    restore
  done
  cp -a "$CR/snap" "$CR/timed"
  t0=$(date +%s%N)
  (cd "$CR/timed" && "$Z4VC" "$@" >/dev/null 2>&1)
  ms=$((($(date +%s%N) - t0) / 2000000))
  rm -rf "$CR/timed"
  crash_maint_trial delay "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))" "$@"
}

maint_kills repack-batch:1 repack --keyframe-interval 1

t "prune run a to its last 2 checkpoints"
# Either the old history or the pruned one may survive a kill: only the
# kept steps must never go missing.
awk '$1 != "a" || $2 >= 150' "$CR/expected" >"$CR/kept" && mv "$CR/kept" "$CR/expected"
maint_kills - prune --run a --keep-last 2 --keep-every 0
check "pruned to the kept steps" test "$(cd "$CRR" && git log --format='%(trailers:key=Z4vc-Step,valueonly)' ckpt/a | sed '/^$/d' | sort -n | tr '\n' ' ')" = "150 200 "

maint_kills gc-delete:1 gc --now
check "a last fsck --full" sh -c "cd '$CRR' && '$Z4VC' fsck --full"
echo "stale git locks left by kills (removed by the retry): $crash_stale_locks"
finish
