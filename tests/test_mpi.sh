#!/usr/bin/env bash
# MPI sweeps (make MPI=1): mpirun --oversubscribe -np 3 on one machine gives a file
# equal to a -j1 run, with or without threads inside ranks; a run stopped part way
# is finished by the same command.  Needs Open MPI (scripts/install-deps.sh).
set -u
P=$(realpath "${PREFSIM:-./prefsim}")
PM=${PREFSIM_MPI:-build-mpi/prefsim}
PY=/usr/bin/python3
INI=$(realpath tests/data/tiny.ini)
if ! command -v mpirun >/dev/null || [ ! -x "$PM" ]; then
  echo "FAIL mpirun or the MPI build ($PM) is missing: run scripts/install-deps.sh and make MPI=1"
  echo "0 passed, 1 failed"
  exit 1
fi
PM=$(realpath "$PM")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# under SAN=1, Open MPI's own allocations held until exit are suppressed (not prefsim's)
export LSAN_OPTIONS="suppressions=$(realpath tests/lsan-mpi.supp):fast_unwind_on_malloc=0:print_suppressions=0"
MPIRUN="mpirun --oversubscribe -x LSAN_OPTIONS"
T=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-mpi-XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
pass=0; fail=0
check() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
same() {
  $PY - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
def data(g, p=""):  # every dataset but the links to the axes (schema 2) and the wall clocks
    for k, v in g.items():
        if isinstance(v, h5py.Group): yield from data(v, p + "/" + k)
        elif not h5py.h5ds.is_scale(v.id) and not k.endswith(("fit_seconds", "wall_seconds")): yield p + "/" + k, v
for top in ("metrics", "status", "messages", "truth", "theory", "cells"):
    da, db = dict(data(a[top], top)), dict(data(b[top], top))
    assert set(da) == set(db), (top, set(da) ^ set(db))
    for k in da:
        x, y = da[k][()], db[k][()]
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), "differ in " + k
assert b.attrs["status"] == "COMPLETED"
PY
}

$P run "$INI" -o single.h5 -j1 --quiet >/dev/null 2>&1
$MPIRUN -np 3 "$PM" run "$INI" -o mpi3.h5 -j1 --quiet >/dev/null 2>err1
check "mpirun -np 3 exits 0" test $? -eq 0
check "3 ranks equal -j1" same single.h5 mpi3.h5
$MPIRUN -np 2 "$PM" run "$INI" -o mpi2t.h5 -j2 --quiet >/dev/null 2>&1
check "2 ranks x 2 threads equal -j1" same single.h5 mpi2t.h5
$MPIRUN -np 3 "$PM" run "$INI" -o part.h5 -j1 --quiet --stop-after=5 >/dev/null 2>err2
rc=$?
check "a stopped MPI run exits non-zero" test $rc -ne 0
check "it keeps its finished cells and says INTERRUPTED" $PY -c "
import h5py, sys
f = h5py.File('part.h5', 'r'); n = (f['cells/status'][()] == 1).sum()
assert f.attrs['status'] == 'INTERRUPTED' and 0 < n <= 15, (f.attrs['status'], n)"
$MPIRUN -np 3 "$PM" run "$INI" -o part.h5 -j1 --quiet >/dev/null 2>err3
check "the same command finishes it" test $? -eq 0
check "finished run equals -j1" same single.h5 part.h5
$MPIRUN -np 2 "$PM" run "$INI" data.heldout=77 -o part.h5 --quiet >/dev/null 2>err4
check "another config is refused under MPI too" test $? -ne 0

# Ctrl-C to mpirun: every rank finishes its running cells, rank 0 marks the file
PREFSIM_SNAPSHOT_SECONDS=0.05 $MPIRUN -x PREFSIM_SNAPSHOT_SECONDS -np 2 "$PM" run "$INI" experiment.replicates=4000 -o sig.h5 -j1 --quiet >/dev/null 2>err5 &
pid=$!
for _ in $(seq 1 100); do
  sleep 0.05
  n=$($PY -c "import h5py,sys; print((h5py.File(sys.argv[1],'r')['cells/status'][()]==1).sum())" sig.h5 2>/dev/null || echo 0)
  [ "${n:-0}" -gt 20 ] && break
done
kill -INT $pid
wait $pid
rc=$?
# mpirun turns a SIGINT into SIGTERM for the ranks and SIGKILL shortly after, so rank 0
# may or may not finish its final snapshot (then the file says INTERRUPTED); either way
# every finished cell is kept, in the file or in its journal
kept=$("$P" info sig.h5 | awk '/^cells /{d=$2} /more finished cells/{match($0,/[0-9]+ more finished/); split(substr($0,RSTART),a," "); j=a[1]} END{print d+j}')
check "SIGINT to mpirun: exit non-zero, the finished cells kept ($kept)" sh -c "test $rc -ne 0 && test ${kept:-0} -gt 0"
$MPIRUN -np 2 "$PM" run "$INI" experiment.replicates=4000 -o sig.h5 -j1 --quiet >/dev/null 2>&1
$P run "$INI" experiment.replicates=4000 -o sig1.h5 -j2 --quiet >/dev/null 2>&1
check "after SIGINT the same command completes it, equal to a single run" same sig1.h5 sig.h5

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
