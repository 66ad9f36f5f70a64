#!/usr/bin/env bash
# End-to-end: run tiny experiments through the CLI and read the HDF5 back with an
# independent reader (h5py).  Checks: schema and dimension scales; -j1 vs -j2
# bit-identity of every value except wall-clock times; interrupt (--stop-after and
# a real SIGINT) then --resume equals an uninterrupted run; failed fits recorded as
# statuses; verify and plot outputs and exit codes; refusing to overwrite.
set -u
P=$(realpath "${PREFSIM:-./prefsim}")
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-e2e-XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# compare two results files: every dataset and attribute except wall-clock ones
same_results() {
  $PY - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
skip_attrs = {"created_utc", "finished_utc", "snapshot_utc", "argv", "git_rev", "threads", "mpi_ranks"}
bad = []
def walk(name, obj):
    if not isinstance(obj, h5py.Dataset): return
    if name.endswith("fit_seconds") or name == "cells/wall_seconds": return
    x, y = obj[()], b[name][()]
    if x.dtype.kind == "f":
        if not np.array_equal(x, y, equal_nan=True) or not np.array_equal(np.signbit(x), np.signbit(y)):
            bad.append(name)
    elif not np.array_equal(x, y): bad.append(name)
a.visititems(walk)
if set(a.keys()) != set(b.keys()): bad.append("top-level groups")
for k in a.attrs:
    if k not in skip_attrs and a.attrs[k] != b.attrs.get(k): bad.append("attr " + k)
if bad: print("differ:", bad); sys.exit(1)
PY
}

cd "$T"
# 1. a complete run, read back
$P run "$OLDPWD/tests/data/tiny.ini" -o "$T/a.h5" -j1 --quiet >/dev/null 2>"$T/a.err"
check "run -j1 exits 0" test $? -eq 0
check "h5py reads schema, axes, scales, metrics, cells" $PY - "$T/a.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f.attrs["schema"] == "prefsim-results/2", f.attrs["schema"]
assert f.attrs["Conventions"] == "CF-1.8"
assert f.attrs["status"] == "COMPLETED"
assert int(f.attrs["master_seed"]) == 987654321
for k in ("prefsim_version", "git_rev", "created_utc", "finished_utc", "config", "argv", "rng", "gsl_version", "hdf5_version",
          "git_dirty", "compiler", "cflags", "blas", "host", "threads", "mpi_ranks"):
    assert k in f.attrs, k
assert list(f["n"][()]) == [300, 1200, 4800] and f["n"].dtype == np.int64
assert [s.decode() if isinstance(s, bytes) else s for s in f["link"][()]] == ["logistic", "probit"]
assert list(f["replicate"][()]) == list(range(20))
assert f.attrs["threads"] == "1" and f.attrs["git_dirty"] in ("true", "false")
pe = f["metrics/bt/param_err"]
assert pe.shape == (3, 2, 20), pe.shape
assert [d.label for d in pe.dims] == ["n", "link", "replicate"]
assert [list(d[0][()]) for d in pe.dims] == [list(f["n"][()]), list(f["link"][()]), list(range(20))]
assert pe.attrs["units"] in ("1", b"1") and len(pe.attrs["long_name"]) > 0
x = pe[()]
assert np.all(np.isfinite(x)) and np.all(x > 0)
# error falls with n for the unpenalised MLE (means over 20 replicates, both links)
m = x.mean(axis=2)
assert np.all(m[0] > m[2]), m
assert np.all(f["metrics/bt/converged"][()] == 1)
acc = f["metrics/bt/accuracy"][()]
assert np.all((acc > 0.5) & (acc <= 1))
ex = f["metrics/bt/excess_logloss"][()]
assert np.all(ex > 0)           # KL(p || p-hat) > 0 for an estimate != truth
ll = f["metrics/bt/heldout_logloss"][()]
assert np.allclose(ll - ex, f["truth/bayes_logloss"][()], rtol=0, atol=1e-12)
assert np.all(f["status/bt"][()] == 0)
c = f["cells/status"]
assert c.shape == (3, 2, 20) and set(c[()].ravel()) == {1}
assert list(c.attrs["flag_values"]) == [0, 1, 2] and c.attrs["flag_meanings"] == "PENDING DONE FAILED"
assert np.all(f["cells/iterations"][()] > 0) and np.all(f["cells/wall_seconds"][()] >= 0)
t = f["theory/param_err_crlb"][()]
assert np.all(np.isfinite(t)) and np.all(t > 0)
# the ridge estimator is shrunk: smaller norm than the MLE at n = 300
assert f["metrics/ridge/param_err"].shape == (3, 2, 20)
PY

check "xarray opens an estimator's group in one line (README recipe)" $PY - "$T/a.h5" <<'PY'
import sys, xarray as xr
ds = xr.open_dataset(sys.argv[1], group="metrics/bt", engine="h5netcdf")
m = ds.param_err.mean("replicate").sel(link="logistic")
assert list(m["n"].values) == [300, 1200, 4800] and float(m.sel(n=300)) > float(m.sel(n=4800))
PY

# 2. -j2 gives the same values
$P run "$OLDPWD/tests/data/tiny.ini" -o "$T/b.h5" -j2 --quiet >/dev/null 2>&1
check "run -j2 exits 0" test $? -eq 0
check "-j1 and -j2 bit-identical" same_results "$T/a.h5" "$T/b.h5"
check "h5diff agrees on /metrics/bt/param_err" h5diff -q "$T/a.h5" "$T/b.h5" /metrics/bt/param_err

# 3. interrupt after 7 cells, then resume
$P run "$OLDPWD/tests/data/tiny.ini" -o "$T/c.h5" -j2 --quiet --stop-after=7 >/dev/null 2>"$T/c.err"
rc=$?
check "interrupted run exits 1" test $rc -eq 1
check "interrupted file says INTERRUPTED and keeps 7 cells" $PY - "$T/c.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert f.attrs["status"] == "INTERRUPTED", f.attrs["status"]
assert (f["cells/status"][()] == 1).sum() == 7
PY
check "interrupted message says how to finish" grep -q "run the same command again" "$T/c.err"
$P run "$OLDPWD/tests/data/tiny.ini" -o "$T/c.h5" -j2 --quiet >/dev/null 2>"$T/c2.err"
check "resume exits 0" test $? -eq 0
check "resume ran only the 113 missing cells" grep -q "7 already done, 113 run" "$T/c2.err"
check "interrupt+resume equals uninterrupted" same_results "$T/a.h5" "$T/c.h5"

# 4. a real SIGINT in the middle of a longer run
# (snapshots every 0.05 s, so the file shows the cells finished so far)
PREFSIM_SNAPSHOT_SECONDS=0.05 $P run "$OLDPWD/tests/data/tiny.ini" experiment.replicates=3000 -o "$T/d.h5" -j2 --quiet >/dev/null 2>"$T/d.err" &
pid=$!
for _ in $(seq 1 100); do
  sleep 0.05
  n=$($PY -c "import h5py,sys; print((h5py.File(sys.argv[1],'r')['cells/status'][()]==1).sum())" "$T/d.h5" 2>/dev/null || echo 0)
  [ "${n:-0}" -gt 20 ] && break
done
kill -INT $pid
wait $pid
rc=$?
check "SIGINT run exits 1" test $rc -eq 1
check "SIGINT file is INTERRUPTED" $PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); assert f.attrs['status']=='INTERRUPTED'; assert 0 < (f['cells/status'][()]==1).sum() < f['cells/status'].size" "$T/d.h5"
$P run "$OLDPWD/tests/data/tiny.ini" experiment.replicates=3000 -o "$T/d.h5" -j2 --quiet --resume >/dev/null 2>&1
check "SIGINT resume exits 0" test $? -eq 0
$P run "$OLDPWD/tests/data/tiny.ini" experiment.replicates=3000 -o "$T/e.h5" -j1 --quiet >/dev/null 2>&1
check "SIGINT+resume equals an uninterrupted -j1 run" same_results "$T/d.h5" "$T/e.h5"

# 5. refusing to lose results
before=$(md5sum < "$T/a.h5")
$P run "$OLDPWD/tests/data/tiny.ini" -o "$T/a.h5" --quiet >/dev/null 2>"$T/f.err"
rc=$?
check "rerunning a completed run: exit 0, nothing run" sh -c "test $rc -eq 0 && grep -q '120 already done, 0 run' '$T/f.err'"
check "a completed output is left untouched" test "$before" = "$(md5sum < "$T/a.h5")"
$P run "$OLDPWD/tests/data/tiny.ini" data.heldout=501 -o "$T/a.h5" --quiet >/dev/null 2>"$T/g.err"
rc=$?
check "an output of another config is refused (exit 2)" test $rc -eq 2
check "refusal names the config and --force" sh -c "grep -q 'another config' '$T/g.err' && grep -q -- '--force' '$T/g.err'"
check "the refused output is untouched" test "$before" = "$(md5sum < "$T/a.h5")"
$P run "$OLDPWD/tests/data/tiny.ini" data.heldout=501 -o "$T/a.h5" --quiet --force >/dev/null 2>&1
check "--force overwrites" test $? -eq 0 -a "$before" != "$(md5sum < "$T/a.h5")"
cp "$T/b.h5" "$T/a.h5"

# 5b. claims and figures are not part of the data's identity: changing one reruns nothing
$P run "$OLDPWD/tests/data/tiny.ini" claim.rate.tol=0.22 -o "$T/a.h5" --quiet >/dev/null 2>"$T/k.err"
check "changing a claim reruns no cell" grep -q "120 already done, 0 run" "$T/k.err"
$P verify "$T/a.h5" > "$T/k.out"
check "verify uses the changed claim" grep -q "0.5±0.22" "$T/k.out"

# 6. failed fits are recorded, not fatal
$P run "$OLDPWD/tests/data/items_fail.ini" -o "$T/h.h5" --quiet >/dev/null 2>"$T/h.err"
check "sweep with failing fits exits 0" test $? -eq 0
check "no-mle recorded as status 5 with a message, metrics NaN" $PY - "$T/h.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
st = f["status/bt"][()]; msg = f["messages/bt"][()]; pe = f["metrics/bt/param_err"][()]
assert (st[0] == 5).any(), st                 # n = 20 < 30 items: some item never wins/loses
assert np.all(st[1] == 0), st                 # n = 5000: always fine
for i in np.argwhere(st == 5):
    m = msg[tuple(i)]; m = m.decode() if isinstance(m, bytes) else m
    assert "never" in m or "disconnected" in m or "strongly" in m, m
    assert np.isnan(pe[tuple(i)])
assert np.all(np.isfinite(pe[1]))
assert np.all(f["metrics/bt/converged"][()][st != 0] == 0)
PY

# a claim over values that are missing (failed fits) fails and says why
cat > "$T/missing.ini" <<'INI'
[experiment]
name = missing
seed = 5
replicates = 4
[world]
kind = items
items = 30
[population]
scale = 2.5
[data]
heldout = 200
[sweep]
n = 20, 5000
[estimator.bt]
l2 = 0
[claim.small_error]
metric = bt/param_err
expect = below
value = 100
INI
$P run "$T/missing.ini" -o "$T/miss.h5" --quiet >/dev/null 2>&1
$P verify "$T/miss.h5" > "$T/miss.out"
rc=$?
check "a claim with failed fits among its values FAILs (exit 1)" test $rc -eq 1
check "and says which values are missing" grep -q "values are missing (failed fits or unfinished cells)" "$T/miss.out"
check "the point without failures passes" grep -q "n=5000 .*PASS" "$T/miss.out"

# 6b. MDP worlds: segment comparisons, regret and partial-return learners
cat > "$T/mdp.ini" <<'INI'
[experiment]
name = mdp
seed = 11
replicates = 2
[world]
kind = corridor
reward_features = state
[data]
n = 300
heldout = 10
[estimator.regret_model]
iterations = 400
[estimator.partial_return]
INI
$P run "$T/mdp.ini" -o "$T/mdp.h5" --quiet >/dev/null 2>&1
check "an MDP sweep runs" test $? -eq 0
check "MDP metrics: regret model optimal; only the MDP metrics and fit records stored" $PY - "$T/mdp.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
rp = f["metrics/regret_model/return_policy"][()]
assert np.all(rp == 1.0), rp                    # corridor: the optimal policy, exactly
assert np.all(np.isfinite(f["metrics/partial_return/return_policy"][()]))
data = lambda g: [k for k in g if not h5py.h5ds.is_scale(g[k].id)]   # a group's links to the axes are coordinates
assert sorted(data(f["metrics/regret_model"])) == sorted(["return_policy", "return_greedy", "policy_agreement", "greedy_agreement",
    "fit_seconds", "iterations", "converged"]), list(f["metrics/regret_model"])
assert "truth" not in f or len(data(f["truth"])) == 0
PY
# an estimator that cannot learn from segments is a configuration error before any cell runs
printf '[estimator.bt]\n' >> "$T/mdp.ini"
$P run "$T/mdp.ini" -o "$T/mdp_bt.h5" --quiet >"$T/mdp_bt.out" 2>&1
check "BT in an MDP world is refused before any cell (exit 2)" test $? -eq 2
check "the refusal names the estimator and the world" grep -q "estimator 'bt' fits item or feature comparisons, not the trajectory-segment comparisons that \[world\] kind = corridor makes" "$T/mdp_bt.out"
check "no results file is written" test ! -e "$T/mdp_bt.h5"
sed -i '$d' "$T/mdp.ini"

$P run "$T/mdp.ini" world.kind=grid world.grid_width=4 world.grid_height=3 world.behaviour=eps_greedy -o "$T/grid.h5" --quiet >/dev/null 2>&1
check "a random grid world with eps-greedy segments: the regret model recovers the optimal policy" $PY - "$T/grid.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert np.all(f["metrics/regret_model/policy_agreement"][()] == 1.0), f["metrics/regret_model/policy_agreement"][()]
assert np.all(f["metrics/regret_model/return_policy"][()] == 1.0)
PY

# 7. verify and plot
$P verify "$T/a.h5" >"$T/v.out"
check "verify passes tiny claims (exit 0)" test $? -eq 0
check "verify prints the closing count" grep -q "^2 passed, 0 failed" "$T/v.out"
$P verify "$T/a.h5" >/dev/null 2>&1   # deterministic bootstrap: same output twice
$P verify "$T/a.h5" >"$T/v2.out"
check "verify output is reproducible" cmp -s "$T/v.out" "$T/v2.out"
# verdicts are data: stored in the file as /verdicts, equal to what verify computes;
# verify --json and --tsv carry the same rows
$P verify --json "$T/a.h5" >"$T/v.json"
$P verify --tsv "$T/a.h5" >"$T/v.tsv"
check "/verdicts, verify --json and --tsv agree" $PY - "$T/a.h5" "$T/v.json" "$T/v.tsv" <<'PY'
import csv, json, sys, h5py
f = h5py.File(sys.argv[1], "r")
v = f["verdicts"]
d = [{k: v[k][i] for k in v if k != "row"} for i in range(v["row"].shape[0])]
j = json.load(open(sys.argv[2]))["claims"]
t = list(csv.DictReader(open(sys.argv[3]), delimiter="\t"))
assert len(d) == len(j) == len(t) > 0
for a, b, c in zip(d, j, t):
    assert a["claim"].decode() == b["claim"] == c["claim"]
    assert a["verdict"].decode() == b["verdict"] == c["verdict"]
    assert a["measured"] == b["measured"] == float(c["measured"])
    assert a["ci_low"] == b["ci_low"] and a["ci_high"] == b["ci_high"]
    assert a["alternative"] == b["alternative"]
PY
# a band too narrow for the replicates: INCONCLUSIVE, exit 4 (not 1, not 0)
cp "$T/a.h5" "$T/inc.h5"
$P run "$OLDPWD/tests/data/tiny.ini" claim.rate.tol=0.02 -o "$T/inc.h5" --quiet >/dev/null 2>&1
$P verify "$T/inc.h5" >"$T/inc.out"
check "a CI wider than its band is INCONCLUSIVE with exit 4" sh -c "test $? -eq 4 && grep -q 'rate .*INCONCLUSIVE' '$T/inc.out'"

# a changed claim: rerunning with it stores it without recomputing a cell (editing the
# file with h5py would break its seal, and prefsim would report it as damaged)
cp "$T/a.h5" "$T/fail.h5"
$P run "$OLDPWD/tests/data/tiny.ini" claim.rate.value=0.5 -o "$T/fail.h5" --quiet >/dev/null 2>"$T/fail.err"
check "a changed claim is stored without running a cell" grep -q "already done, 0 run" "$T/fail.err"
$P verify "$T/fail.h5" >"$T/v3.out"
check "a false claim fails with exit 1" test $? -eq 1
check "the false claim's row says FAIL" grep -q "^rate .*FAIL" "$T/v3.out"
$P plot "$T/a.h5" -o "$T/fig" >"$T/p.out"
check "plot exits 0" test $? -eq 0
check "plot wrote PDF and PNG" test -s "$T/fig/a_rate.pdf" -a -s "$T/fig/a_rate.png"
check "plot wrote the TSV series" test -s "$T/fig/a_rate.s1.tsv"
check "TSV mean equals the h5py mean" $PY - "$T/a.h5" "$T/fig/a_rate.s1.tsv" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
x = f["metrics/bt/param_err"][:, 0, :].mean(axis=1)
t = np.loadtxt(sys.argv[2])
assert np.allclose(t[:, 1], x, rtol=1e-9), (t[:, 1], x)
assert np.all(t[:, 2] < t[:, 1]) and np.all(t[:, 3] > t[:, 1])
PY
$P info "$T/a.h5" >"$T/i.out"
check "info shows status and axes" grep -q "COMPLETED" "$T/i.out"
$P verify "$T/nonexistent.h5" >/dev/null 2>&1
check "verify of a missing file exits 3" test $? -eq 3

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
