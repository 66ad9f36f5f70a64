#!/usr/bin/env bash
# Nothing lost (issue #12): the results store survives kill -9, SIGHUP and a full disk
# with every finished cell kept and final data identical to an uninterrupted run; a
# second writer is refused before it touches the file; a running sweep's file is
# readable; damaged files are reported (exit 3), never crash a command; huge grids are
# refused before any work.
#
# The kill moments are pseudo-random but seeded (RANDOM=$SEED), so a failure can be
# replayed; they are drawn as fractions of the measured duration of an uninterrupted
# run, so the test means the same under ASan (slower) as in a plain build.
# Environment: PREFSIM (binary), STORE_KILLS (20), STORE_DAMAGE (60 damaged files).
set -u
P=$(realpath "${PREFSIM:-./prefsim}")
PY=/usr/bin/python3
ROOT=$(pwd)
INI=$(realpath tests/data/store.ini)
KILLS=${STORE_KILLS:-20}
DAMAGE=${STORE_DAMAGE:-60}
SEED=20261207
T=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-store-XXXXXX")
cleanup() {
  jobs -p | xargs -r kill -9 2>/dev/null
  umount "$T/mnt" 2>/dev/null   # the full-disk tmpfs, if a failure left it mounted
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
pass=0; fail=0
check() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }

# tests/data/store.ini: 3,000 cells of small feature-BT fits; SWEEP: overrides for all runs
SWEEP=()
run() { "$P" run "$INI" "${SWEEP[@]}" "$@"; }  # foreground only: $! of a function is not prefsim's pid

# identical /metrics (but fit_seconds), /truth, /theory, /status, /messages and /cells
# (but wall_seconds); both COMPLETED
same_data() {
  $PY - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
def walk(g, p=""):
    for k, v in g.items():
        if isinstance(v, h5py.Group): yield from walk(v, p + "/" + k)
        else: yield p + "/" + k, v
bad = []
for top in ("metrics", "truth", "theory", "status", "messages", "cells"):
    da, db = dict(walk(a[top])), dict(walk(b[top]))
    if set(da) != set(db): bad.append(f"{top}: datasets differ {set(da) ^ set(db)}")
    for k in da:
        if k.endswith("fit_seconds") or k.endswith("wall_seconds") or k not in db: continue
        x, y = da[k][()], db[k][()]
        if x.dtype.kind == "f":
            same = np.array_equal(x, y, equal_nan=True) and np.array_equal(np.signbit(x), np.signbit(y))
        else:
            same = np.array_equal(x, y)
        if not same: bad.append(f"{top}{k} differs")
for f in (a, b):
    if f.attrs["status"] != "COMPLETED": bad.append(f"{f.filename} is {f.attrs['status']}")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
}

# finished cells of a file plus its journal: exactly what a resume would keep (the
# union of the file's DONE/FAILED cells and the journal's CRC-valid records, read
# here independently of prefsim from the format in results/journal.h)
kept() {
  $PY - "$1" <<'PY'
import os, struct, sys, zlib
import h5py, numpy as np
path = sys.argv[1]
cells = set()
if os.path.exists(path):
    with h5py.File(path, "r") as f:
        st = f["cells/status"][()].reshape(-1)   # C order: the cell ids
        cells |= set(np.flatnonzero(st != 0).tolist())
j = path + ".journal"
if os.path.exists(j):
    b = open(j, "rb").read()
    off = 512
    while off + 12 <= len(b):
        magic, n = struct.unpack_from("<II", b, off)
        if magic != 0x524A5350 or off + 12 + n > len(b): break
        if zlib.crc32(b[off + 4:off + 8 + n]) != struct.unpack_from("<I", b, off + 8 + n)[0]: break
        cells.add(struct.unpack_from("<Q", b, off + 8)[0])
        off += 12 + n
print(len(cells))
PY
}

# ------------------------------------------------------------ the reference run
t0=$(date +%s.%N)
run -o ref.h5 -j2 --quiet >/dev/null 2>ref.err
t1=$(date +%s.%N)
D=$(echo "$t1 - $t0" | bc -l)
check "reference run completes" test -s ref.h5
check "a completed run leaves no journal and no temporary" test ! -e ref.h5.journal -a ! -e ref.h5.tmp
echo "     reference run: ${D}s"

# ------------------------------------------------------------ kill -9, repeatedly
RANDOM=$SEED
prev=0; lost=0; unreadable=0; killed=0
for i in $(seq 1 "$KILLS"); do
  # a moment in (0, D/5): each attempt finishes some cells, few finish the sweep;
  # snapshots every 0.1 s (at least 20x their cost), so kills land in them too
  frac=$(( (RANDOM % 1000) + 1 ))
  sleep_s=$(echo "$D * $frac / 5000" | bc -l)
  PREFSIM_SNAPSHOT_SECONDS=0.1 "$P" run "$INI" "${SWEEP[@]}" -o k.h5 -j2 --quiet >/dev/null 2>>k.err &
  pid=$!
  sleep "$sleep_s"
  kill -9 $pid 2>/dev/null && killed=$((killed + 1))
  wait $pid 2>/dev/null
  if [ -e k.h5 ]; then
    "$P" info k.h5 >/dev/null 2>&1 || unreadable=$((unreadable + 1))
  fi
  now=$(kept k.h5); now=${now:-0}
  if [ "$now" -lt "$prev" ]; then lost=$((lost + 1)); echo "     kill $i: finished cells went from $prev to $now"; fi
  prev=$now
done
echo "     $killed of $KILLS runs killed mid-sweep; $prev cells finished before the last rerun"
check "after every kill -9 the file is readable (info exit 0)" test "$unreadable" -eq 0
check "no kill -9 lost a finished cell (file + journal never shrink)" test "$lost" -eq 0
run -o k.h5 -j2 --quiet >/dev/null 2>>k.err
check "rerun after $KILLS kill -9s completes" test $? -eq 0
check "... with data identical to the uninterrupted run" same_data ref.h5 k.h5
check "... and the journal gone" test ! -e k.h5.journal

# ------------------------------------------------------------ torn and damaged journals
journal_run() {  # kill -9 a run of $1 until its journal holds records
  for _ in $(seq 1 20); do
    PREFSIM_SNAPSHOT_SECONDS=1000 "$P" run "$INI" "${SWEEP[@]}" -o "$1" -j2 --quiet >/dev/null 2>&1 &
    local pid=$!
    sleep "$(echo "$D / 4" | bc -l)"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    [ "$(stat -c %s "$1.journal" 2>/dev/null || echo 0)" -gt 4096 ] && return 0
  done
  return 1
}
rm -f t.h5*
if journal_run t.h5; then
  # a torn last record (the crash hit mid-write): random bytes after the last record
  head -c 77 /dev/urandom >>t.h5.journal
  run -o t.h5 -j2 --quiet >/dev/null 2>t.err
  check "a torn journal tail is cut off and the rerun completes" test $? -eq 0
  check "... identical to the uninterrupted run" same_data ref.h5 t.h5
else
  check "a kill -9 leaves a journal with records" false
fi
rm -f t.h5*
if journal_run t.h5; then
  # a flipped byte in the middle of the journal: replay stops there, the rest is rerun
  jsize=$(stat -c %s t.h5.journal)
  printf '\xff' | dd of=t.h5.journal bs=1 seek=$(( 512 + (jsize - 512) / 2 )) conv=notrunc status=none
  run -o t.h5 -j2 --quiet >/dev/null 2>t.err
  check "a damaged journal record ends the replay; the rerun completes" test $? -eq 0
  check "... identical to the uninterrupted run" same_data ref.h5 t.h5
fi

# ------------------------------------------------------------ SIGHUP and SIGTERM
for sig in HUP TERM; do
  rm -f s.h5
  "$P" run "$INI" "${SWEEP[@]}" -o s.h5 -j2 --quiet >/dev/null 2>s.err &
  pid=$!
  sleep "$(echo "$D / 3" | bc -l)"
  kill -$sig $pid
  wait $pid
  rc=$?
  st=$($PY -c "import h5py; print(h5py.File('s.h5','r').attrs['status'])" 2>/dev/null)
  check "SIG$sig: exit 1 and the file INTERRUPTED (rc $rc, $st)" test "$rc" -eq 1 -a "$st" = INTERRUPTED
  run -o s.h5 -j2 --quiet >/dev/null 2>>s.err
  check "SIG$sig: the rerun finishes it, identical to the uninterrupted run" same_data ref.h5 s.h5
done

# ------------------------------------------------------------ one writer at a time
rm -f w.h5
"$P" run "$INI" "${SWEEP[@]}" -o w.h5 -j1 --quiet experiment.replicates=3000 >/dev/null 2>w.err &
pid=$!
for _ in $(seq 1 100); do [ -e w.h5 ] && break; sleep 0.05; done
sleep 0.3
cp w.h5 w.before 2>/dev/null
run -o w.h5 --force --quiet >/dev/null 2>force.err
rc=$?
check "--force on a running sweep's file is refused (exit 3)" test "$rc" -eq 3
check "... naming the writing process (pid $pid)" grep -q "pid $pid" force.err
run -o w.h5 --quiet experiment.replicates=3000 >/dev/null 2>second.err
check "a second plain run of it is refused too" grep -q "being written by another prefsim process" second.err
check "a running sweep's file opens in info, which says it is partial" bash -c "'$P' info w.h5 | grep -q 'partial: a sweep (pid $pid) is writing it'"
check "... and in h5py without any environment trick" $PY -c "import h5py; f = h5py.File('w.h5', 'r'); assert f.attrs['status'] == 'RUNNING'"
check "... and in verify (a warning, not an error)" bash -c "'$P' verify w.h5 >/dev/null 2>v.err; test \$? -le 1 && grep -q partial v.err"
wait $pid
check "the first writer still completes" test $? -eq 0
check "... and its file is valid and COMPLETED" $PY -c "import h5py; f = h5py.File('w.h5', 'r'); assert f.attrs['status'] == 'COMPLETED'"

# ------------------------------------------------------------ a full disk
full_disk() {  # run inside a mount namespace where we may mount (as root, or unshare -rm)
  set -u
  MNT=$1
  mount -t tmpfs -o size=160k tmpfs "$MNT" || { echo "SKIP: cannot mount tmpfs"; return 0; }
  "$P" run "$INI" "${SWEEP[@]}" -o "$MNT/f.h5" -j2 --quiet >/dev/null 2>"$T/full.err"
  rc=$?
  grep -q "No space left on device" "$T/full.err" || { echo "FAIL: no ENOSPC message (rc $rc): $(cat "$T/full.err")"; return 1; }
  [ "$rc" -eq 3 ] || { echo "FAIL: exit $rc on a full disk, expected 3"; return 1; }
  if [ -e "$MNT/f.h5" ]; then "$P" info "$MNT/f.h5" >/dev/null || { echo "FAIL: file unreadable after ENOSPC"; return 1; }; fi
  mount -o remount,size=64m "$MNT" || { echo "SKIP: cannot grow the tmpfs"; return 0; }
  "$P" run "$INI" "${SWEEP[@]}" -o "$MNT/f.h5" -j2 --quiet >/dev/null 2>>"$T/full.err" || { echo "FAIL: rerun after freeing space: $(tail -1 "$T/full.err")"; return 1; }
  cp "$MNT/f.h5" "$T/f.h5"
  umount "$MNT"
  echo "DONE"
}
mkdir -p mnt
export -f full_disk same_data
export P INI PY T
export SWEEP_STR="${SWEEP[*]}"
fd_script='SWEEP=($SWEEP_STR); full_disk '"$T/mnt"
if [ "$(id -u)" = 0 ]; then
  out=$(bash -c "$fd_script" 2>&1)
elif unshare -rm true 2>/dev/null; then
  out=$(unshare -rm bash -c "$fd_script" 2>&1)
else
  out="SKIP: neither root nor user namespaces (unshare -rm) here"
fi
case "$out" in
  *SKIP*) echo "skip full disk: ${out#*SKIP: }" ;;
  *DONE*) check "full disk: exit 3 naming ENOSPC, then after freeing space the rerun completes" true
          check "... with data identical to the uninterrupted run" same_data ref.h5 f.h5 ;;
  *) check "full disk: $out" false ;;
esac

# ------------------------------------------------------------ damaged files
"$P" run "$INI" experiment.replicates=20 -o small.h5 --quiet >/dev/null 2>&1
size=$(stat -c %s small.h5)
RANDOM=$SEED
crashed=0; passed_damaged=0
for i in $(seq 1 "$DAMAGE"); do
  cp small.h5 d.h5
  off=$(( (RANDOM * 32768 + RANDOM) % size ))
  len=$(( RANDOM % 20 + 1 ))
  head -c $len /dev/urandom | dd of=d.h5 bs=1 seek=$off conv=notrunc status=none
  cmp -s small.h5 d.h5 && continue   # the random bytes happened to equal the old ones
  for cmd in info verify "plot --no-gnuplot -o plots" "merge out$i.h5"; do
    # shellcheck disable=SC2086
    "$P" $cmd d.h5 >/dev/null 2>d.err
    rc=$?
    if [ "$rc" -ge 128 ] || grep -qi "AddressSanitizer\|runtime error" d.err; then
      crashed=$((crashed + 1)); echo "     crash: $cmd on damage at $off+$len: rc $rc"
    elif [ "$rc" -ne 3 ]; then
      passed_damaged=$((passed_damaged + 1)); echo "     $cmd exit $rc (not 3) on damage at $off+$len"
    fi
  done
done
check "$DAMAGE damaged files: no command crashed" test "$crashed" -eq 0
check "... and every command reported the damage (exit 3)" test "$passed_damaged" -eq 0
truncate -s -1 small.h5 -c && cp small.h5 tr.h5
"$P" info tr.h5 >/dev/null 2>tr.err
check "a truncated file: exit 3 saying so" bash -c "test $? -eq 3 && grep -q 'truncated or extended' tr.err"

# ------------------------------------------------------------ huge grids, bad targets
out=$("$P" run "$INI" experiment.replicates=1000000 -o huge.h5 2>&1)
rc=$?
check "a 4,000,000-cell grid is refused (exit 2) before any file is written" test "$rc" -eq 2 -a ! -e huge.h5
check "... naming its cells, the ceiling, the size, an estimated time and --allow-large" \
  bash -c "grep -q '4000000 cells' <<<\"\$0\" && grep -q 'ceiling of 2000000' <<<\"\$0\" && grep -q 'GB' <<<\"\$0\" && grep -q 'about .* on .* thread' <<<\"\$0\" && grep -q -- '--allow-large' <<<\"\$0\"" "$out"
PREFSIM_MAX_CELLS=100 "$P" run "$INI" "${SWEEP[@]}" -o lim.h5 --quiet >/dev/null 2>lim.err
check "PREFSIM_MAX_CELLS sets the ceiling" bash -c "test $? -eq 2 && grep -q 'ceiling of 100 cells' lim.err"
cp "$INI" copy.ini
"$P" run copy.ini -o copy.ini --quiet "${SWEEP[@]}" >/dev/null 2>self.err
check "run -o onto its own experiment file is refused, the file intact" bash -c "test $? -eq 2 && cmp -s copy.ini '$INI'"
"$P" info ref.h5 >/dev/full 2>full_out.err
check "info with stdout on a full device exits 3" test $? -eq 3

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
