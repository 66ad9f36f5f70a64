#!/usr/bin/env bash
# Results that open in one line: a small sweep (tests/data/export.ini: an integer, a
# text and a real axis, the text one named "value") opened with xarray (engines
# h5netcdf and netcdf4, every group), with python/prefsim (open, tidy) and through
# `prefsim export` (CSV and netCDF); coordinates (names, dtypes) and every value are
# checked bit for bit against h5py; then the error paths: missing, damaged, truncated,
# foreign and unfinished files, bad options.
set -u
P=$(realpath "${PREFSIM:-./prefsim}")
PY=/usr/bin/python3
ROOT=$PWD
export PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
T=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-python-XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
check() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }

$P run tests/data/export.ini -o "$T/r.h5" -j2 --quiet >/dev/null 2>"$T/run.err"
check "the sweep runs" test $? -eq 0

check "xarray opens every group with both engines: named, typed coordinates; values equal h5py's" \
  $PY - "$T/r.h5" <<'PY'
import sys, h5py, numpy as np, xarray as xr
path = sys.argv[1]
f = h5py.File(path, "r")
dims = ["n", "value", "ref_temperature", "replicate"]
def same(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind == "f":
        return x.dtype == y.dtype and np.array_equal(x.view(np.int64), y.view(np.int64))  # bit for bit
    if x.dtype.kind in "OSU":
        return [str(v) for v in x.ravel()] == [v.decode() if isinstance(v, bytes) else v for v in y.ravel()]
    return np.array_equal(x, y)
groups = [None, "truth", "theory", "status", "messages", "cells"] + ["metrics/" + e for e in f["metrics"]]
for engine in ("h5netcdf", "netcdf4"):
    for g in groups:
        with xr.open_dataset(path, group=g, engine=engine, mask_and_scale=False) as ds:
            assert list(ds.coords) == dims, (engine, g, list(ds.coords))
            assert ds["n"].dtype == np.int64 and list(ds["n"].values) == [200, 400]
            assert all(type(v) is str for v in ds["value"].values) and list(ds["value"].values) == ["debiased", "plugin"]
            assert ds["ref_temperature"].dtype == np.float64 and list(ds["ref_temperature"].values) == [0.5, 2.0]
            assert ds["replicate"].dtype == np.int32 and list(ds["replicate"].values) == [0, 1, 2]
            for a in ("n", "ref_temperature"):
                assert ds[a].attrs["units"] == "1" and len(ds[a].attrs["long_name"]) > 3, ds[a].attrs
            assert len(ds["value"].attrs["long_name"]) > 3
            if g is None:
                assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["schema"] == "prefsim-results/2"
                for k in ("git_dirty", "compiler", "cflags", "blas", "host", "threads", "mpi_ranks"):
                    assert ds.attrs[k], k
                assert ds.attrs["threads"] == "2" and ds.attrs["mpi_ranks"] == "1"
                continue
            names = [k for k in f[g] if k not in dims]
            assert sorted(ds.data_vars) == sorted(names), (g, list(ds.data_vars), names)
            for k in names:
                assert ds[k].dims == tuple(dims), (g, k, ds[k].dims)
                assert same(ds[k].values, f[g][k][()]), (engine, g, k)
                if g.startswith(("metrics", "truth", "theory")):
                    assert "units" in ds[k].attrs and ds[k].attrs["long_name"], (g, k, ds[k].attrs)
with xr.open_dataset(path, group="cells", engine="h5netcdf") as c:   # the seal hides the HDF5 signature from engine guessing
    assert list(c.status.attrs["flag_values"]) == [0, 1, 2] and c.status.attrs["flag_meanings"] == "PENDING DONE FAILED"
    assert (c.status.values == 1).all()
PY

check "prefsim.open: every metric [estimator, axes..., replicate], truth_/theory_, equal to h5py" \
  $PY - "$T/r.h5" <<'PY'
import sys, h5py, numpy as np, prefsim
path = sys.argv[1]
f = h5py.File(path, "r")
ds = prefsim.open(path)
est = list(f["metrics"])
assert list(ds["estimator"].values) == est and all(type(e) is str for e in ds["estimator"].values)
assert ds["n"].dtype == np.int64 and ds["ref_temperature"].dtype == np.float64 and ds["replicate"].dtype == np.int32
axes = {"n", "value", "ref_temperature", "replicate"}
seen = set()
for e in est:
    for k in f["metrics"][e]:
        if k in axes: continue
        seen.add(k)
        x, y = ds[k].sel(estimator=e).values, f["metrics"][e][k][()]
        assert np.array_equal(x.view(np.int64), y.view(np.int64)), (e, k)
        assert ds[k].dims == ("estimator", "n", "value", "ref_temperature", "replicate")
for k in set(ds.data_vars) - seen:
    g, q = k.split("_", 1)
    assert g in ("truth", "theory"), k
    assert np.array_equal(ds[k].values, f[g][q][()], equal_nan=True), k
assert len([k for k in ds.data_vars if k.startswith("truth_")]) == len([k for k in f["truth"] if k not in axes])
# a metric one estimator lacks is NaN for it
only = [k for k in seen if not all(k in f["metrics"][e] for e in est)]
assert only, "the fixture should have estimator-specific metrics"
for k in only:
    for e in est:
        if k not in f["metrics"][e]: assert np.isnan(ds[k].sel(estimator=e).values).all()
one = prefsim.open(path, estimator="bt")
assert "estimator" not in one.dims and np.array_equal(one.param_err.values, f["metrics/bt/param_err"][()], equal_nan=True)
try:
    prefsim.open(path, estimator="nope"); raise SystemExit("an unknown estimator was accepted")
except prefsim.ResultsError as e:
    assert "nope" in str(e) and "drpo" in str(e)
PY

$P export "$T/r.h5" --format=csv -o "$T/r.csv"
check "export --format=csv exits 0" test $? -eq 0
$P export "$T/r.h5" >"$T/stdout.csv"
check "export writes CSV to standard output without -o" cmp -s "$T/r.csv" "$T/stdout.csv"
check "CSV round-trips: equal to prefsim.tidy and, bit for bit, to the HDF5 arrays" $PY - "$T/r.h5" "$T/r.csv" <<'PY'
import sys, h5py, numpy as np, pandas as pd, prefsim
path, csv = sys.argv[1:]
df = prefsim.tidy(path)
c = pd.read_csv(csv, keep_default_na=False, na_values=["NaN"], float_precision="round_trip")
assert list(c.columns) == ["estimator", "metric", "n", "axis_value", "ref_temperature", "replicate", "value"], list(c.columns)
assert c["n"].dtype == np.int64 and c["ref_temperature"].dtype == np.float64 and c["replicate"].dtype == np.int64
assert df.equals(c), "tidy() differs from the exported CSV"
f = h5py.File(path, "r")
n, vals, temps = list(f["n"][()]), [v.decode() for v in f["value"][()]], list(f["ref_temperature"][()])
rows = 0
for (e, m), g in c.groupby(["estimator", "metric"], sort=False):
    arr = f["truth" if e == "truth" else "theory" if e == "theory" else "metrics/" + e][m][()]
    idx = (g["n"].map(n.index).values, g["axis_value"].map(vals.index).values,
           g["ref_temperature"].map(temps.index).values, g["replicate"].values)
    want = arr[idx]
    got = g["value"].values
    assert np.array_equal(np.isnan(want), np.isnan(got)), (e, m)
    ok = ~np.isnan(want)
    assert np.array_equal(want[ok].view(np.int64), got[ok].view(np.int64)), (e, m)   # to the last bit
    rows += len(g)
arrays = sum(1 for e in f["metrics"] for k in f["metrics"][e] if k not in f) + \
         sum(1 for g in ("truth", "theory") for k in f[g] if k not in f)
assert rows == len(c) == arrays * f["cells/status"].size, (rows, len(c), arrays)
assert c["value"].notna().sum() > 0
PY

$P export "$T/r.h5" --format netcdf --output "$T/r.nc"
check "export --format netcdf exits 0" test $? -eq 0
check "the netCDF export opens with xarray (both engines) and equals prefsim.open" $PY - "$T/r.h5" "$T/r.nc" <<'PY'
import sys, numpy as np, xarray as xr, prefsim
ds = prefsim.open(sys.argv[1])
for engine in ("h5netcdf", "netcdf4"):
    with xr.open_dataset(sys.argv[2], engine=engine) as e:
        assert list(e.dims) == ["estimator", "n", "value", "ref_temperature", "replicate"], list(e.dims)
        assert sorted(e.data_vars) == sorted(ds.data_vars)
        assert e.equals(ds), engine
        assert e.attrs["Conventions"] == "CF-1.8" and e.attrs["experiment"] == "export"
PY
$P export "$T/r.h5" -o"$T/short.csv"
check "-oFILE works" cmp -s "$T/r.csv" "$T/short.csv"

# R: the snippet of docs/architecture.md ("Reading results elsewhere"), through netCDF-C
cat >"$T/read.R" <<'R'
library(ncdf4)
nc <- nc_open(commandArgs(TRUE)[1])
err <- ncvar_get(nc, "metrics/bt/param_err")   # R reverses the dimensions: [replicate, ..., n]
n <- ncvar_get(nc, "n")
cat(sprintf("%.17g", c(n, apply(err, length(dim(err)), mean))), ncatt_get(nc, 0, "Conventions")$value, "\n")
nc_close(nc)
R
Rscript "$T/read.R" "$T/r.h5" >"$T/r.out" 2>"$T/r.err"
check "R (ncdf4) reads the file: axes and values as h5py has them" $PY - "$T/r.h5" "$T/r.out" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
got = open(sys.argv[2]).read().split()
x = f["metrics/bt/param_err"][()]
want = [float(v) for v in f["n"][()]] + list(x.reshape(x.shape[0], -1).mean(axis=1))
assert got[-1] == "CF-1.8", got
assert np.allclose([float(v) for v in got[:-1]], want, rtol=1e-14, atol=0), (got, want)
PY

# error paths
$P export "$T/nope.h5" 2>"$T/e1"; rc=$?
check "a missing file: exit 3 naming it" sh -c "test $rc -eq 3 && grep -q 'nope.h5' '$T/e1'"
$P export "$T/r.h5" --format xml 2>"$T/e2"; rc=$?
check "a bad format: exit 2 naming the choices" sh -c "test $rc -eq 2 && grep -q 'not csv or netcdf' '$T/e2'"
$P export "$T/r.h5" --fromat=csv 2>"$T/e3"; rc=$?
check "an unknown option: exit 2 naming it" sh -c "test $rc -eq 2 && grep -q -- '--fromat=csv' '$T/e3'"
$P export "$T/r.h5" --format netcdf 2>"$T/e4"; rc=$?
check "netcdf without -o: exit 2" test $rc -eq 2
$P export "$T/r.h5" "$T/r.h5" 2>/dev/null; rc=$?
check "two inputs: exit 2" test $rc -eq 2
cp "$T/r.h5" "$T/bad.h5"
$PY -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2] ^= 0x40; open(p,'wb').write(b)" "$T/bad.h5"
cp "$T/r.csv" "$T/keep.csv"
$P export "$T/bad.h5" -o "$T/keep.csv" 2>"$T/e5"; rc=$?
check "a damaged file: exit 3, 'damaged', the output left as it was" \
  sh -c "test $rc -eq 3 && grep -q damaged '$T/e5' && cmp -s '$T/keep.csv' '$T/r.csv'"
head -c 20000 "$T/r.h5" >"$T/short.h5"
check "python: missing, damaged, truncated and foreign files raise clear errors" $PY - "$T" <<'PY'
import sys, h5py, prefsim
T = sys.argv[1]
try: prefsim.open(T + "/nope.h5"); raise SystemExit("missing accepted")
except FileNotFoundError as e: assert "nope.h5" in str(e)
for name, words in (("bad.h5", "checksum"), ("short.h5", "truncated")):
    for fn in (prefsim.open, prefsim.tidy):
        try: fn(T + "/" + name); raise SystemExit(name + " accepted")
        except prefsim.ResultsError as e: assert words in str(e) and name in str(e), str(e)
with h5py.File(T + "/foreign.h5", "w") as f: f["x"] = [1, 2]
try: prefsim.tidy(T + "/foreign.h5"); raise SystemExit("foreign accepted")
except prefsim.ResultsError as e: assert "not a prefsim results file" in str(e), str(e)
PY
$P run tests/data/export.ini -o "$T/part.h5" --quiet --stop-after=5 >/dev/null 2>&1
$P export "$T/part.h5" >/dev/null 2>"$T/e6"; rc=$?
check "an unfinished file: exit 3 saying --partial" sh -c "test $rc -eq 3 && grep -q 'INTERRUPTED with 5 of 24 cells done' '$T/e6' && grep -q -- --partial '$T/e6'"
$P export "$T/part.h5" --partial -o "$T/part.csv"
check "--partial exports it (cells not done are NaN)" $PY - "$T/part.h5" "$T/part.csv" <<'PY'
import sys, pandas as pd, prefsim
try: prefsim.tidy(sys.argv[1]); raise SystemExit("unfinished file accepted")
except prefsim.ResultsError as e: assert "partial=True" in str(e)
c = pd.read_csv(sys.argv[2], keep_default_na=False, na_values=["NaN"], float_precision="round_trip")
assert prefsim.tidy(sys.argv[1], partial=True).equals(c)
ds = prefsim.open(sys.argv[1], partial=True)
assert int(ds.param_err.sel(estimator="bt").notnull().sum()) == 5
PY
# (from a copy: pip builds in the source tree)
check "pip installs the package (no network: --no-index, no build isolation)" sh -c \
  "cp -r '$ROOT/python' '$T/src' && $PY -m pip install --quiet --no-index --no-deps --no-build-isolation --target '$T/site' '$T/src' >'$T/pip.log' 2>&1 &&
   cd '$T' && PYTHONPATH='$T/site' $PY -c 'import prefsim, os; assert os.path.dirname(prefsim.__file__).startswith(\"$T/site\"); prefsim.open(\"$T/r.h5\")'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
