#!/usr/bin/env bash
# Sharded sweeps and merge: shards of one config merge into a file equal to a
# single-machine run (every data group and the axes compared with h5py; h5diff would
# follow the axes' references to the wall-clock arrays); missing, duplicated, foreign and self-overwriting
# inputs are refused with clear errors; a shard that dies resumes; a merge resumes.
set -u
P=$(realpath "${PREFSIM:-./prefsim}")
PY=/usr/bin/python3
INI=$(realpath tests/data/tiny.ini)
T=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-shard-XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
pass=0; fail=0
check() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }

same_as_single() {  # $1 $2: files; data groups must be identical
  $PY - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for k in list(a["metrics/bt/param_err"].dims):
    assert np.array_equal(k[0][()], b[k[0].name][()]), k.label
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
assert b.attrs["status"] == "COMPLETED" and "shard" not in b.attrs
assert a.attrs["config"] == b.attrs["config"]
PY
}

$P run "$INI" -o full.h5 -j1 --quiet >/dev/null 2>&1
for k in 1 2 3; do $P run "$INI" --shard $k/3 -o s$k.h5 --quiet >/dev/null 2>&1; done
check "shards run" test -s s1.h5 -a -s s2.h5 -a -s s3.h5
check "a shard holds exactly its cells (id % 3 == K-1) and says so" $PY - s2.h5 <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f.attrs["shard"] == "2/3" and f.attrs["status"] == "COMPLETED"
c = f["cells/status"][()].reshape(-1)   # C order: the cell ids
assert np.all((c == 1) == (np.arange(c.size) % 3 == 1))
pe = f["metrics/bt/param_err"][()].reshape(-1)
assert np.all(np.isfinite(pe) == (np.arange(pe.size) % 3 == 1))
PY
$P merge m.h5 s3.h5 s1.h5 s2.h5 >/dev/null 2>merge.err
check "merge exits 0" test $? -eq 0
check "merge equals the single-machine run" same_as_single full.h5 m.h5
check "prefsim verify accepts the merged file" sh -c "$P verify m.h5 >/dev/null"

$P merge bad.h5 s1.h5 s3.h5 >/dev/null 2>err1; rc=$?
check "missing shard: exit 2" test $rc -eq 2
check "missing shard is named" grep -q "shards not given: 2/3" err1
check "nothing written for a refused merge" test ! -e bad.h5
cp s2.h5 s2copy.h5
$P merge bad.h5 s1.h5 s2.h5 s2copy.h5 s3.h5 >/dev/null 2>err2; rc=$?
check "duplicated shard: exit 2 naming both files" sh -c "test $rc -eq 2 && grep -q 'duplicated' err2 && grep -q s2copy.h5 err2"
$P run "$INI" data.heldout=400 --shard 2/3 -o other.h5 --quiet >/dev/null 2>&1
$P merge bad.h5 s1.h5 other.h5 s3.h5 >/dev/null 2>err3; rc=$?
check "shard of another config: refused" sh -c "test $rc -eq 2 && grep -q 'different resolved configs' err3"
before=$(md5sum < s1.h5)
$P merge s1.h5 s2.h5 s3.h5 >/dev/null 2>err4; rc=$?
check "output that is a shard file: refused" sh -c "test $rc -eq 2 && grep -q 'itself a shard' err4"
$P merge s1.h5 s1.h5 s2.h5 s3.h5 >/dev/null 2>err5; rc=$?
check "output that is an input: refused" sh -c "test $rc -eq 2 && grep -q 'never overwrites an input' err5"
check "inputs untouched" test "$before" = "$(md5sum < s1.h5)"

# a shard that dies keeps its finished cells; the same command with --resume finishes it
$P run "$INI" --shard 2/3 -o d2.h5 --quiet --stop-after=9 >/dev/null 2>&1; rc=$?
check "interrupted shard exits 1" test $rc -eq 1
$P merge bad.h5 s1.h5 d2.h5 s3.h5 >/dev/null 2>err6; rc=$?
check "merging an unfinished shard names it and how to finish it" sh -c "test $rc -eq 2 && grep -q 'shard 2/3' err6 && grep -q 'command again' err6"
$P run "$INI" --shard 3/3 -o d2.h5 --quiet --resume >/dev/null 2>err7; rc=$?
check "resuming as another shard is refused" sh -c "test $rc -ne 0 && grep -q 'same --shard' err7"
$P run "$INI" --shard 2/3 -o d2.h5 --quiet --resume >/dev/null 2>err8; rc=$?
check "shard resume exits 0" test $rc -eq 0
check "shard resume ran only the rest" grep -q "9 already done, 31 run" err8
$P merge m2.h5 s1.h5 d2.h5 s3.h5 >/dev/null 2>&1
check "resumed shard merges to the single-machine result" same_as_single full.h5 m2.h5

# a shard whose DONE cell has no values (a writer bug, or a file edited and resealed by
# hand: the seal is documented, so any tool can write one) is refused, not copied on
cp s2.h5 s2bad.h5
$PY - s2bad.h5 <<'PY'
import sys, zlib, h5py, numpy as np
p = sys.argv[1]
with h5py.File(p, "r+") as f:
    done = np.flatnonzero(f["cells/status"][()].reshape(-1) == 1)[0]
    st = f["status/bt"]; x = st[()].reshape(-1); x[done] = -1; st[...] = x.reshape(st.shape)
b = bytearray(open(p, "rb").read())
line = b"prefsim-seal 1 size=%d crc32=%08x\n" % (len(b), zlib.crc32(bytes(b[512:])))
b[:512] = line + bytes(512 - len(line))
open(p, "wb").write(b)
PY
$P merge badm.h5 s1.h5 s2bad.h5 s3.h5 >/dev/null 2>err_done; rc=$?
check "a shard with a DONE cell without values is refused (exit 3), nothing written" sh -c "test $rc -eq 3 && grep -q 'marked DONE but estimator bt has no result' err_done && test ! -e badm.h5"

# a merge that stopped part way is completed by the same command; the partial output
# is made by prefsim itself (a run of the same config stopped after 50 cells), since a
# file edited with h5py fails its seal
$P run "$INI" -o partial.h5 -j1 --stop-after=50 --quiet >/dev/null 2>&1
$P merge partial.h5 s1.h5 s2.h5 s3.h5 >/dev/null 2>err9
check "merge resumes a partial output" grep -q "70 copied from 3 shard files, 50 already there" err9
check "resumed merge equals the single-machine run" same_as_single full.h5 partial.h5

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
