# crash/lib.sh - kill `z4vc commit` (or gc, prune, repack) at a chosen
# point, then prove the repository intact. Sourced after tests/e2e/lib.sh
# (check, t, TMP, Z4VC), by tests/e2e/test_crash.sh and
# test_crash_maint.sh (a few kill points each, in ctest) and by
# tests/crash/run.sh (hundreds, nightly).
#
# Kill modes, each a way to stop one command:
#   point NAME:N  Z4VC_CRASH_AT: SIGKILL at a named point in the code
#                 (chunk-flush, store-txn, commit-git, commit-ref,
#                 commit-done, gc-delete, repack-batch; grep
#                 z4_crash_point)
#   sys N         killshim.so: SIGKILL before the Nth file-changing system
#                 call (inside LMDB's commit and libgit2's ref update too)
#   torn N        the same, but half of that write lands first
#   delay S       kill -9 from outside after S seconds
# After each kill crash_verify checks: z4vc fsck (when the binary has it),
# git fsck, every commit of every ckpt/ ref checks out byte-exact against
# the directory it was made from, nothing committed before is lost, and
# the killed step is either whole or absent. crash_retry then runs the
# same commit again, which must succeed (or report the step committed)
# with nothing removed by hand: a git lock file the kill left is aged past
# z4vc's stale-lock threshold and the retry must remove it itself.
: "${Z4GEN:?set Z4GEN to the z4gen binary}"

CRASH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CR=$TMP/crash
mkdir -p "$CR"
crash_log=${CRASH_LOG:-/dev/null} # one line per trial
crash_shim=""
crash_fsck=0
crash_stale_locks=0 # git .lock files a kill left behind (see crash_retry)

# Build the LD_PRELOAD shim; returns 1 (and leaves sys/torn modes off)
# without a C compiler.
crash_setup() {
  if "${CC:-cc}" -shared -fPIC -O2 -o "$CR/killshim.so" \
    "$CRASH_LIB_DIR/killshim.c" -ldl 2>"$CR/cc.err"; then
    crash_shim=$CR/killshim.so
  else
    echo "note: no C compiler, system-call kill points skipped" >&2
  fi
  if "$Z4VC" help 2>/dev/null | grep -qE '^ +fsck '; then crash_fsck=1; fi
  # Sources: a small series (one LMDB batch per commit) and big bf16
  # files (48 MiB: two batches for big-1 and big-3, whose delta on big-2
  # is ~25 MB; at 32 MiB it would fit one 16 MiB batch).
  "$Z4GEN" --out "$CR/src" --steps 400 --every 50 --layers 2 --d-model 32 \
    --init >/dev/null
  local k
  for k in 1 2 3; do
    mkdir -p "$CR/src/big-$k"
    "$Z4GEN" --big-mb "${CRASH_BIG_MB:-48}" --out "$CR/src/big-$k/model.safetensors" \
      --step $k >/dev/null
  done
}

# The plan: jobs "RUN STEP DIR" committed in order into one repository.
crash_plan() {
  local s
  for s in 0 50 100; do echo "a $s $CR/src/step-$(printf %06d $s)"; done
  echo "b 1 $CR/src/big-1"
  echo "a 150 $CR/src/step-000150"
  echo "b 2 $CR/src/big-2"
  echo "a 200 $CR/src/step-000200"
  echo "b 3 $CR/src/big-3"
}

# Start a fresh repository for a plan.
crash_new_repo() {
  CRR=$CR/repo
  new_repo "$CRR"
  : >"$CR/expected" # "RUN STEP DIR" of every step that must be present
  : >"$CR/sources"  # "RUN STEP DIR" of every step ever committed
}

# crash_calibrate: commit the plan once, whole, in a scratch repository;
# writes "CALLS MS" per plan job to $CR/calib: the file-changing calls the
# commit makes (the range of sys/torn kill points) and its duration (the
# range of delays).
crash_calibrate() {
  local run step dir t0 t1
  crash_new_repo
  : >"$CR/calib"
  while read -r run step dir; do
    t0=$(date +%s%N)
    (cd "$CRR" && if [ -n "$crash_shim" ]; then
      LD_PRELOAD=$crash_shim Z4VC_KILL_COUNT=$CR/count \
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
        exec "$Z4VC" commit "$dir" --run "$run" --step "$step"
    else echo 0 >"$CR/count"; exec "$Z4VC" commit "$dir" --run "$run" --step "$step"; fi) \
      >/dev/null || bad "calibration commit $run step $step failed"
    t1=$(date +%s%N)
    echo "$(cat "$CR/count") $(((t1 - t0) / 1000000))" >>"$CR/calib"
  done < <(crash_plan)
}

# crash_kill MODE ARG Z4VC-ARGS...: run `z4vc Z4VC-ARGS...` in the
# repository under the fault; sets crash_rc to its exit status (137 =
# killed).
crash_kill() {
  local mode=$1 arg=$2 pid
  shift 2
  case $mode in
  point) (cd "$CRR" && Z4VC_CRASH_AT=$arg exec "$Z4VC" "$@") ;;
  sys | torn)
    (cd "$CRR" && LD_PRELOAD=$crash_shim Z4VC_KILL_AT=$arg \
      Z4VC_KILL_TORN=$([ "$mode" = torn ] && echo 1 || echo 0) \
      ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
      exec "$Z4VC" "$@") ;;
  delay)
    (cd "$CRR" && exec "$Z4VC" "$@") &
    pid=$!
    sleep "$arg"
    kill -9 $pid 2>/dev/null
    wait $pid ;;
  esac >"$CR/out" 2>"$CR/err"
  crash_rc=$?
}

# crash_step_present RUN STEP: is the step on ckpt/RUN?
crash_step_present() {
  (cd "$CRR" && git log --format='%(trailers:key=Z4vc-Step,valueonly)' \
    "refs/heads/ckpt/$1" -- 2>/dev/null) | grep -qx "$2"
}

# crash_verify RUN STEP DIR: the repository after killing that commit
# ("- - -" after another command). Sets crash_state to "present" or
# "absent".
crash_verify() {
  local run=$1 step=$2 dir=$3 ref commit r s src n=0 nbad=0
  cd "$CRR" || return
  if [ "$crash_fsck" = 1 ]; then check "z4vc fsck after the kill" "$Z4VC" fsck; fi
  check "git fsck after the kill" git fsck --no-dangling --no-progress
  # Every commit on every ckpt/ ref: a known step, byte-exact.
  for ref in $(git for-each-ref --format='%(refname)' refs/heads/ckpt/); do
    r=${ref#refs/heads/ckpt/}
    for commit in $(git rev-list "$ref"); do
      s=$(git log -1 --format='%(trailers:key=Z4vc-Step,valueonly)' "$commit")
      if [ "$r $s" = "$run $step" ]; then src=$dir; else
        src=$(awk -v r="$r" -v s="$s" '$1 == r && $2 == s {print $3; exit}' "$CR/sources")
      fi
      if [ -z "$src" ]; then bad "unexpected commit $commit ($r step $s)"; nbad=1; continue; fi
      rm -rf "$CR/co"
      if ! "$Z4VC" checkout "$commit" -o "$CR/co" >/dev/null 2>"$CR/co.err"; then
        bad "checkout $r step $s after the kill: $(head -1 "$CR/co.err")"; nbad=1
      elif ! same_tree "$CR/co" "$src"; then
        bad "$r step $s differs from its source after the kill"; nbad=1
      fi
      n=$((n + 1))
    done
  done
  [ $nbad = 0 ] && ok
  # Nothing committed before the kill is lost.
  while read -r r s src; do
    crash_step_present "$r" "$s" || bad "$r step $s lost after the kill"
  done <"$CR/expected"
  if crash_step_present "$run" "$step"; then crash_state=present; else crash_state=absent; fi
  if [ "$run" != - ] && [ "$crash_rc" = 0 ] && [ $crash_state = absent ]; then
    bad "$run step $step: the commit succeeded but is not on its ref"
  fi
  crash_checked=$n
}

# crash_age_locks DIR...: age the git lock files (*.lock) under these
# directories of the git dir past z4vc's stale-lock threshold
# (z4vc.staleLockSeconds, 10 s), as if the retry came a minute later;
# count them in crash_stale_locks.
crash_age_locks() {
  local d lock
  for d in "$@"; do
    [ -d "$CRR/.git/$d" ] || continue
    for lock in $(find "$CRR/.git/$d" -name '*.lock'); do
      crash_stale_locks=$((crash_stale_locks + 1))
      touch -d '1 minute ago' "$lock"
    done
  done
}

# crash_retry RUN STEP DIR: commit again after the kill; must succeed
# when the step is absent, and say "already committed" when the kill came
# after the ref moved.
crash_retry() {
  local run=$1 step=$2 dir=$3 lock err=$CR/err had_lock
  cd "$CRR" || return
  # A kill inside libgit2's ref update (lock written, or linked into place
  # but not yet unlinked) leaves refs/heads/ckpt/RUN.lock, as it would for
  # git itself. While it is fresh the next commit to the run must name it
  # (before storing anything); once older than the threshold the next
  # commit must remove it itself, say so, and go on: no manual removal.
  lock=$(git rev-parse --git-path "refs/heads/ckpt/$run.lock")
  had_lock=0
  if [ -e "$lock" ]; then
    had_lock=1
    touch "$lock"
    check_fails "fresh stale ref lock named" "locked by .*$run\.lock' \(.*removes it once" \
      "$Z4VC" commit "$dir" --run "$run" --step "$step"
    crash_age_locks refs/heads/ckpt
  fi
  if [ "$crash_state" = present ]; then
    check_fails "retry of a step the kill left committed" "already committed" \
      "$Z4VC" commit "$dir" --run "$run" --step "$step"
    err=$TMP/stderr
  elif "$Z4VC" commit "$dir" --run "$run" --step "$step" >"$CR/out" 2>"$CR/err"; then
    ok
  else
    bad "retry after the kill failed: $(head -3 "$CR/err")"
  fi
  if [ -e "$lock" ]; then
    bad "the retry left the stale ref lock $lock"
  elif [ "$had_lock" = 1 ]; then
    grep -qxF "z4vc: refs/heads/ckpt/$run: removed stale lock left by a killed process" "$err" ||
      bad "no notice for the removed lock: $(head -3 "$err")"
  elif grep -q 'removed stale lock' "$err"; then
    bad "a notice without a lock: $(grep 'removed stale lock' "$err")"
  fi
  crash_step_present "$run" "$step" || bad "$run step $step missing after retry"
  echo "$run $step $dir" >>"$CR/expected"
  echo "$run $step $dir" >>"$CR/sources"
  rm -rf "$CR/co"
  check "retried step checks out" "$Z4VC" checkout --step "$step" --run "$run" -o "$CR/co"
  check "retried step byte-exact" same_tree "$CR/co" "$dir"
}

# crash_trial MODE ARG RUN STEP DIR: one kill, verify, retry.
crash_trial() {
  local mode=$1 arg=$2 run=$3 step=$4 dir=$5 f0=$failed
  t "kill $mode $arg during commit $run step $step"
  crash_kill "$mode" "$arg" commit "$dir" --run "$run" --step "$step"
  if [ $crash_rc -ne 137 ] && [ $crash_rc -ne 0 ]; then
    bad "commit under '$mode $arg' exited $crash_rc: $(head -3 "$CR/err")"
  fi
  crash_verify "$run" "$step" "$dir"
  echo "$mode $arg commit $run $step rc=$crash_rc $crash_state checked=$crash_checked" \
    "$([ $failed = $f0 ] && echo ok || echo FAILED)" >>"$crash_log"
  crash_retry "$run" "$step" "$dir"
}

# crash_commit_plan: commit the whole plan, no faults (a base for
# maintenance trials).
crash_commit_plan() {
  local run step dir
  while read -r run step dir; do
    (cd "$CRR" && "$Z4VC" commit "$dir" --run "$run" --step "$step") >/dev/null ||
      bad "commit $run step $step failed"
    echo "$run $step $dir" >>"$CR/expected"
    echo "$run $step $dir" >>"$CR/sources"
  done < <(crash_plan)
}

# crash_calls Z4VC-ARGS...: the file-changing calls `z4vc Z4VC-ARGS...`
# makes, counted on a copy of the repository (the range of kill points).
crash_calls() {
  rm -rf "$CR/calrepo"
  cp -a "$CRR" "$CR/calrepo"
  (cd "$CR/calrepo" && LD_PRELOAD=$crash_shim Z4VC_KILL_COUNT=$CR/count \
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    exec "$Z4VC" "$@") >/dev/null 2>&1 || echo 0 >"$CR/count"
  rm -rf "$CR/calrepo"
  cat "$CR/count"
}

# crash_maint_trial MODE ARG Z4VC-ARGS...: kill a maintenance command (gc,
# prune, repack), check the repository as after a killed commit (every
# checkpoint on every ref byte-exact, none of $CR/expected lost, fsck),
# then run the command again, which must succeed, and run fsck --full.
crash_maint_trial() {
  local mode=$1 arg=$2 f0=$failed
  shift 2
  t "kill $mode $arg during $*"
  crash_kill "$mode" "$arg" "$@"
  if [ $crash_rc -ne 137 ] && [ $crash_rc -ne 0 ]; then
    bad "'$*' under '$mode $arg' exited $crash_rc: $(head -3 "$CR/err")"
  fi
  crash_verify - - -
  echo "$mode $arg $* rc=$crash_rc checked=$crash_checked" \
    "$([ $failed = $f0 ] && echo ok || echo FAILED)" >>"$crash_log"
  # A ref or reflog lock left by the kill (see crash_retry), aged past the
  # threshold: the retry must not be stopped by it (it removes those in its
  # way itself; no manual removal).
  crash_age_locks refs/heads/ckpt logs/refs/heads/ckpt
  (cd "$CRR" && "$Z4VC" "$@") >"$CR/out" 2>"$CR/err" ||
    bad "retry of '$*' after the kill failed: $(head -3 "$CR/err")"
  # after the retry: every file rebuilt and its sha256 checked, in one
  # process (cheaper than checking out every commit again)
  if [ "$crash_fsck" = 1 ]; then
    check "fsck --full after the retry" sh -c "cd '$CRR' && exec '$Z4VC' fsck --full"
  else
    crash_verify - - -
  fi
}
