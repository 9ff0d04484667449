#!/bin/bash
# fsck against single-byte corruption of the LMDB data file: flip one byte
# at a time at random offsets of data.mdb (N flips, Z4_FLIPS, default 120;
# seed Z4_FLIP_SEED). For each, `z4vc fsck --full` must either fail with a
# "z4vc: ..." report, or pass — and then every step must still check out
# byte-exact (the flip hit bytes nothing reads: free pages, slack). A crash,
# a hang or a passing fsck with damaged data fails the test.
. "$(dirname "$0")/lib.sh"
: "${Z4GEN:?set Z4GEN to the z4gen binary}"
N=${Z4_FLIPS:-120}
SEED=${Z4_FLIP_SEED:-$$}
RANDOM=$SEED
echo "flips: $N, seed: $SEED"

CK=$TMP/ck
"$Z4GEN" --out "$CK" --steps 150 --every 50 --layers 1 --d-model 32 >/dev/null
R=$TMP/repo
new_repo "$R"
cd "$R"
for s in 50 100 150; do
  z4vc commit "$CK/step-$(printf %06d $s)" --step $s >/dev/null || exit 1
done
store=.git/z4vc/store
cp -a "$store" "$TMP/pristine"
size=$(stat -c %s "$store/data.mdb")

t "baseline"
check "fsck --full of the pristine store" z4vc fsck --full

t "single-byte flips"
detected=0 harmless=0
for i in $(seq 1 "$N"); do
  rm -rf "$store" && cp -a "$TMP/pristine" "$store"
  off=$(( (RANDOM * 32768 + RANDOM) % size ))
  old=$(od -An -tu1 -j "$off" -N1 "$store/data.mdb" | tr -d ' ')
  new=$(( (old + 1 + RANDOM % 255) % 256 ))
  printf "$(printf '\\%03o' "$new")" |
    dd of="$store/data.mdb" bs=1 seek="$off" conv=notrunc status=none
  timeout 60 "$Z4VC" fsck --full >"$TMP/f.out" 2>"$TMP/f.err"
  rc=$?
  if [ $rc -ge 124 ]; then
    bad "flip at $off ($old -> $new): fsck crashed or hung (exit $rc)"
    sed 's/^/    /' "$TMP/f.err" | tail -5 >&2
  elif [ $rc -ne 0 ]; then
    if grep -qE '^z4vc: .+: .+' "$TMP/f.err"; then
      detected=$((detected + 1)); ok
    else
      bad "flip at $off: fsck failed without a 'z4vc: <what>: <why>' report"
    fi
  else
    # fsck found nothing: the data must really be intact
    intact=1
    for s in 50 100 150; do
      rm -rf "$TMP/co"
      if ! "$Z4VC" checkout --step $s -o "$TMP/co" >/dev/null 2>&1 ||
         ! same_tree "$TMP/co" "$CK/step-$(printf %06d $s)"; then intact=0; fi
    done
    if [ $intact = 1 ]; then harmless=$((harmless + 1)); ok
    else bad "flip at $off ($old -> $new): fsck passed but step data differs"; fi
  fi
done
echo "$N flips: $detected detected by fsck, $harmless harmless (data verified intact)"

t "damaged B-tree pages"
# LMDB trusts its pages: mark every node of every leaf page as having
# duplicates (F_DUPDATA, which no z4vc database uses) and reading any of
# them dereferences a cursor that does not exist. fsck must turn that
# into a report, not crash.
rm -rf "$store" && cp -a "$TMP/pristine" "$store"
perl -e '
  open(my $f, "+<", $ARGV[0]) or die "$ARGV[0]: $!"; binmode $f;
  my ($ps, $n) = (4096, 0);
  for (my $pg = 2; ; $pg++) {
    seek($f, $pg * $ps, 0);
    last if read($f, my $p, $ps) < $ps;
    my ($pgno, $pad, $flags, $lower) = unpack("Q< S< S< S<", $p);
    next unless $pgno == $pg && ($flags & 0x12) == 0x02; # leaf, not meta
    for my $i (0 .. (($lower - 16) >> 1) - 1) {
      my $off = unpack("S<", substr($p, 16 + 2 * $i, 2));
      next if $off < 16 || $off + 8 > $ps;
      substr($p, $off + 4, 2) =
        pack("S<", unpack("S<", substr($p, $off + 4, 2)) | 0x04);
      $n++;
    }
    seek($f, $pg * $ps, 0); print $f $p;
  }
  print "$n\n";' "$store/data.mdb" >"$TMP/marked"
check "leaf nodes marked" test "$(cat "$TMP/marked")" -gt 0
timeout 60 "$Z4VC" fsck >"$TMP/f.out" 2>"$TMP/f.err"
check "fsck on damaged pages fails (exit 1, not a signal)" test $? = 1
check "and says so" grep -q "^z4vc: fsck: store: .*damaged" "$TMP/f.err"
timeout 60 "$Z4VC" fsck --json >"$TMP/f.json" 2>/dev/null
check "fsck --json reports it" jq -e '.ok == false and .problems[0].kind == "store"' "$TMP/f.json"
# Any other command fails too, and says something first: a "z4vc: ..."
# error, or (killed by the signal) the note that points at fsck. Sanitizer
# builds print their own report instead of the note.
timeout 60 "$Z4VC" checkout --step 50 -o "$TMP/out50" >/dev/null 2>"$TMP/c.err"
rc=$?
check "checkout on damaged pages fails (exit $rc)" test "$rc" != 0 -a "$rc" != 124
if grep -q "Sanitizer" "$TMP/c.err"; then
  echo "  (sanitizer build: its report stands in for the note)"
elif [ "$rc" -gt 128 ]; then
  check "a crash says what to do" grep -q "^z4vc: checkout: crashed .*'z4vc fsck'" "$TMP/c.err"
else
  check "an error says what" grep -q "^z4vc: " "$TMP/c.err"
fi
check "nothing was written" test ! -e "$TMP/out50/model.safetensors"
finish
