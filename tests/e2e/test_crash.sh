#!/bin/bash
# End-to-end: kill -9 during `z4vc commit` at each named point of the write
# path and at system calls spread over it (torn writes too), then check the
# repository: fsck, every checkpoint byte-exact, the killed one whole or
# absent, the retry succeeds. tests/crash/run.sh does hundreds of these.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../crash/lib.sh"

crash_setup
crash_calibrate
mapfile -t plan < <(crash_plan)
mapfile -t calib <"$CR/calib"

job() { echo "${plan[$1]}"; }

# 1. Named points: inside the store's write txn (the writer lock dies with
# the process), between batches of a multi-batch commit, after the store
# and before git, before the ref, after the ref.
crash_new_repo
# (with 48 MiB files big-1 and big-3 take two store batches, big-2 one)
modes=("point chunk-flush:1" "point store-txn:1" "point commit-git:1"
  "point store-txn:2" "point commit-ref:1" "delay"
  "point commit-done:1" "point chunk-flush:2")
for j in "${!plan[@]}"; do
  read -r run step dir <<<"${plan[$j]}"
  read -r mode arg <<<"${modes[$j]}"
  if [ "$mode" = delay ]; then
    read -r c ms <<<"${calib[$j]}"
    arg=$(printf '%d.%03d' $((ms / 2000)) $((ms / 2 % 1000)))
  fi
  crash_trial "$mode" "$arg" "$run" "$step" "$dir"
  [ "$mode" = point ] && check "the kill at $arg landed" test "$crash_rc" = 137
done

# 2. System calls spread over each commit, every other one torn; one
# commit is killed twice before its retry.
if [ -n "$crash_shim" ]; then
  crash_new_repo
  for j in "${!plan[@]}"; do
    read -r run step dir <<<"${plan[$j]}"
    read -r c ms <<<"${calib[$j]}"
    n=$(((j + 1) * c / ${#plan[@]}))
    [ "$n" -lt 1 ] && n=1
    mode=sys; [ $((j % 2)) = 1 ] && mode=torn
    if [ $j = 4 ]; then
      t "kill twice during commit $run step $step"
      crash_kill sys 3 commit "$dir" --run "$run" --step "$step"
      check "first kill landed" test $crash_rc = 137
      crash_verify "$run" "$step" "$dir"
    fi
    crash_trial $mode $n "$run" "$step" "$dir"
  done
fi
echo "stale git locks left by kills (removed by the retry): $crash_stale_locks"
finish
