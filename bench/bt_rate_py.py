#!/usr/bin/python3
"""bench/bt_rate_py.py - experiments/bt_rate.ini written as a plain numpy + scikit-learn script.

The Python baseline of bench/bt_rate.sh: the same sweep (every grid point and replicate of
the .ini, one cell each), simulated with numpy and fitted with scikit-learn's unpenalised
logistic regression, on a 2-process multiprocessing pool, with the same six metrics and the
Cramer-Rao scale per cell.  Run it with Debian's /usr/bin/python3 (python3-numpy,
python3-sklearn, python3-h5py).

The model (sim/world.c, sim/population.c, sim/design.c, experiments/cell.c):
  world       C contexts x m responses, features phi_y ~ N(0, s^2 I_d) (world.feature_scale = s)
  population  theta* uniform on the sphere of radius B (population.norm), reward r_y = theta*^T phi_y
  design      a context uniformly, then an ordered pair (a, b) of distinct responses uniformly
  noise       P(a reported preferred) = eps + (1 - 2 eps) sigma((r_a - r_b) / T)
  data        data.n training pairs, data.heldout held-out pairs (fresh draws, same world)
  fit         theta-hat = argmax of the logistic likelihood of the labels on x = phi_a - phi_b
              (LogisticRegression(penalty=None, fit_intercept=False), lbfgs, its defaults)
  metrics     param_err        ||theta-hat - theta*/T||
              param_err_sigma  sqrt(mean_i ((theta-hat - theta*/T)^T x_i)^2) over the training x_i
              heldout_logloss  mean_i [p_i softplus(-z_i) + (1 - p_i) softplus(z_i)], z_i = theta-hat^T x_i,
                               p_i the true probability, over the held-out pairs
              excess_logloss   heldout_logloss - mean_i H(p_i)
              accuracy         mean_i 1[(z_i > 0) == (p_i > 1/2)] (1/2 on ties)
              kendall_tau      Kendall tau-b of fitted vs true rewards within each context, mean over contexts
  theory      param_err_crlb   sqrt(tr I^-1), I = sum_i w_i x_i x_i^T, w_i = (1-2eps)^2 sigma'(z*_i)^2 / (P_i (1-P_i))
                               the Fisher weight at the truth z*_i = (r_a - r_b) / T (training pairs)
(prefsim also stores param_err_sigma_crlb = sqrt(tr(I^-1 Sigma-hat)) and more; the issue's
baseline is "the same six metrics and the Cramer-Rao scale", so this script computes those.)
With experiment.common_world (prefsim's default, true here) replicate r sees the same world
and truth at every grid point of the same dimension, as in prefsim; the queries and labels
are fresh per (point, replicate).  numpy cannot reproduce prefsim's Philox streams, so the
two agree only in distribution: --check compares them statistically.

Usage:
  bt_rate_py.py [--ini experiments/bt_rate.ini] [--procs 2] [--replicates R] [--out PY.npz]
  bt_rate_py.py --check RESULTS.h5 [--load PY.npz | run options]   agreement with prefsim's file
  bt_rate_py.py --fit-share RESULTS.h5 --threads 2                sum of fit_seconds, cells, threads
Run mode prints one line per grid point and a final line "wall W s; fit sum F s; cells N".

Each pool worker runs BLAS and OpenMP on one thread (set below before numpy is imported,
unless the caller set them): two single-threaded processes on two cores, the way one runs a
process pool; numpy/sklearn's own threads on top of the pool would oversubscribe the cores.
"""
import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import configparser  # noqa: E402
import itertools  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from multiprocessing import Pool  # noqa: E402

import numpy as np  # noqa: E402
from scipy.special import expit, xlogy  # noqa: E402
from scipy.stats import norm  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

METRICS = ["param_err", "param_err_sigma", "heldout_logloss", "excess_logloss", "accuracy", "kendall_tau"]
THEORY = ["param_err_crlb"]
COLUMNS = METRICS + THEORY + ["fit_seconds", "n_iter", "converged"]


# ---------------------------------------------------------------------------------------
# configuration


def _strip(v):
    return v.split(";")[0].split("#")[0].strip()


def read_ini(path):
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), comment_prefixes=(";", "#"))
    cp.optionxform = str
    with open(path) as fh:
        cp.read_file(fh)

    def get(sec, key, default):
        return _strip(cp.get(sec, key)) if cp.has_option(sec, key) else default

    if get("world", "kind", "items") != "features":
        sys.exit("bt_rate_py.py: only world.kind = features is modelled")
    if get("population", "kind", "bt") != "bt" or get("design", "kind", "uniform") != "uniform":
        sys.exit("bt_rate_py.py: only population.kind = bt and design.kind = uniform are modelled")
    if get("noise", "link", "logistic") != "logistic":
        sys.exit("bt_rate_py.py: only noise.link = logistic is modelled")
    ests = [s for s in cp.sections() if s.startswith("estimator.")]
    if len(ests) != 1 or float(get(ests[0], "l2", "0")) != 0:
        sys.exit("bt_rate_py.py: expects one unpenalised [estimator.*] section (l2 = 0)")
    cfg = {
        "seed": int(get("experiment", "seed", "1")),
        "replicates": int(get("experiment", "replicates", "1")),
        "common_world": get("experiment", "common_world", "true").lower() in ("true", "1", "yes"),
        "contexts": int(get("world", "contexts", "1")),
        "responses": int(get("world", "responses", "2")),
        "feature_scale": float(get("world", "feature_scale", "1")),
        "dim": int(get("world", "dim", "16")),
        "norm": float(get("population", "norm", "1")),
        "temperature": float(get("noise", "temperature", "1")),
        "flip": float(get("noise", "flip", "0")),
        "n": int(get("data", "n", "1000")),
        "heldout": int(get("data", "heldout", "1000")),
    }
    axes = []
    if cp.has_section("sweep"):
        for key in cp.options("sweep"):
            if key not in ("n", "dim"):
                sys.exit(f"bt_rate_py.py: sweep axis {key} is not modelled (only n and dim)")
            axes.append((key, [int(float(x)) for x in _strip(cp.get("sweep", key)).split(",")]))
    cfg["axes"] = axes
    return cfg


def grid_points(cfg):
    """[(index tuple, {axis: value})] in C order, the order of prefsim's arrays"""
    names = [a for a, _ in cfg["axes"]]
    out = []
    for idx in itertools.product(*[range(len(v)) for _, v in cfg["axes"]]):
        out.append((idx, {names[k]: cfg["axes"][k][1][i] for k, i in enumerate(idx)}))
    return out


# ---------------------------------------------------------------------------------------
# one cell

_CFG = None


def _init(cfg):
    global _CFG
    _CFG = cfg
    warnings.simplefilter("ignore", ConvergenceWarning)  # counted through n_iter_ instead


def simulate_pairs(rng, reward, C, m, n, T, eps):
    c = rng.integers(C, size=n)
    a = rng.integers(m, size=n)
    b = rng.integers(m - 1, size=n)
    b += b >= a
    ia, ib = c * m + a, c * m + b
    zstar = (reward[ia] - reward[ib]) / T
    p = eps + (1 - 2 * eps) * expit(zstar)
    y = rng.random(n) < p
    return ia, ib, zstar, p, y


def kendall_tau_b(x, y):
    """tau-b per row of x, y (rows: contexts), O(m^2) pairs vectorised; NaN when undefined"""
    m = x.shape[1]
    i, j = np.triu_indices(m, 1)
    dx = np.sign(x[:, i] - x[:, j])
    dy = np.sign(y[:, i] - y[:, j])
    both = (dx != 0) & (dy != 0)
    s = (dx * dy).sum(axis=1)
    nboth = both.sum(axis=1)
    tx = ((dx == 0) & (dy != 0)).sum(axis=1)
    ty = ((dy == 0) & (dx != 0)).sum(axis=1)
    den = np.sqrt((nboth + tx) * (nboth + ty))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, s / den, np.nan)


def run_cell(task):
    point, vals, rep = task
    cfg = _CFG
    C, m, s = cfg["contexts"], cfg["responses"], cfg["feature_scale"]
    T, eps = cfg["temperature"], cfg["flip"]
    d = vals.get("dim", cfg["dim"])
    n = vals.get("n", cfg["n"])
    seed = cfg["seed"]
    # world and truth keyed by (replicate, d) under common_world, else by the grid point too
    wrng = np.random.default_rng([seed, 1, 0 if cfg["common_world"] else point + 1, rep, d])
    phi = wrng.normal(0.0, s, size=(C * m, d))
    theta = wrng.standard_normal(d)
    theta *= cfg["norm"] / np.linalg.norm(theta)
    reward = phi @ theta
    qrng = np.random.default_rng([seed, 2, point, rep])
    ia, ib, zstar, _, y = simulate_pairs(qrng, reward, C, m, n, T, eps)
    X = phi[ia] - phi[ib]
    ha, hb, _, hp, _ = simulate_pairs(qrng, reward, C, m, cfg["heldout"], T, eps)

    t0 = time.perf_counter()
    clf = LogisticRegression(penalty=None, fit_intercept=False)
    clf.fit(X, y)
    fit_seconds = time.perf_counter() - t0
    th = clf.coef_.ravel()
    n_iter = int(clf.n_iter_.max())

    out = np.empty(len(COLUMNS))
    e = th - theta / T
    out[0] = np.linalg.norm(e)
    out[1] = math.sqrt(np.mean((X @ e) ** 2))
    z = (phi[ha] - phi[hb]) @ th
    ce = hp * np.logaddexp(0.0, -z) + (1 - hp) * np.logaddexp(0.0, z)
    H = -(xlogy(hp, hp) + xlogy(1 - hp, 1 - hp))
    out[2] = ce.mean()
    out[3] = (ce - H).mean()
    hit = np.where((z == 0) | (hp == 0.5), 0.5, ((z > 0) == (hp > 0.5)).astype(float))
    out[4] = hit.mean()
    tau = kendall_tau_b((phi @ th).reshape(C, m), reward.reshape(C, m))
    out[5] = np.nanmean(tau) if np.isfinite(tau).any() else np.nan
    # Cramer-Rao: Fisher weight of each training pair at the truth
    F = expit(zstar)
    P = eps + (1 - 2 * eps) * F
    g = (1 - 2 * eps) * F * (1 - F)
    w = g * g / (P * (1 - P))
    out[6] = math.sqrt(np.trace(np.linalg.inv((X * w[:, None]).T @ X)))
    out[7] = fit_seconds
    out[8] = n_iter
    out[9] = float(n_iter < clf.max_iter)
    return point, rep, out


def run_sweep(cfg, procs, quiet=False):
    pts = grid_points(cfg)
    R = cfg["replicates"]
    shape = tuple(len(v) for _, v in cfg["axes"]) + (R,)
    res = np.full((len(pts), R, len(COLUMNS)), np.nan)
    tasks = [(p, vals, r) for p, (_, vals) in enumerate(pts) for r in range(R)]
    t0 = time.perf_counter()
    with Pool(procs, initializer=_init, initargs=(cfg,)) as pool:
        for p, r, out in pool.imap_unordered(run_cell, tasks, chunksize=16):
            res[p, r] = out
    wall = time.perf_counter() - t0
    arr = {c: res[:, :, k].reshape(shape) for k, c in enumerate(COLUMNS)}
    if not quiet:
        print("| point | mean param_err | mean CRLB | mean excess logloss | mean kendall tau | fit ms/cell |")
        print("|---|---:|---:|---:|---:|---:|")
        for p, (_, vals) in enumerate(pts):
            lab = ", ".join(f"{k}={v}" for k, v in vals.items())
            print(f"| {lab} | {res[p, :, 0].mean():.5f} | {res[p, :, 6].mean():.5f} | "
                  f"{res[p, :, 3].mean():.6f} | {res[p, :, 5].mean():.4f} | {1e3 * res[p, :, 7].mean():.2f} |")
    nonconv = int(np.sum(res[:, :, 9] == 0))
    print(f"bt_rate_py: wall {wall:.3f} s; fit sum {np.nansum(res[:, :, 7]):.3f} s; cells {len(tasks)}; "
          f"processes {procs}; lbfgs not converged in {nonconv} cells")
    return arr, wall


# ---------------------------------------------------------------------------------------
# prefsim's file


def h5_axes(f):
    names = []

    def cb(name):
        names.append(name.decode())
        return None

    if "axes" not in f:  # schema 2: the axes are the root's scales, in the arrays' dimension order
        names = [d.label for d in f["cells/status"].dims]
        return [(nm, f[nm][()]) for nm in names if nm != "replicate"]
    g = f["axes"]
    try:
        g.id.links.iterate(cb, idx_type=__import__("h5py").h5.INDEX_CRT_ORDER)
    except Exception:  # a file written without creation-order tracking
        names = list(g)
    return [(nm, g[nm][()]) for nm in names if nm != "replicate"]


def h5_estimator(f):
    ests = list(f["metrics"])
    if len(ests) != 1:
        sys.exit(f"bt_rate_py.py: expected one estimator in /metrics, found {ests}")
    return ests[0]


def fit_share(path, threads):
    import h5py

    with h5py.File(path, "r") as f:
        tot, cells = 0.0, 0
        for est in f["metrics"]:
            fs = f[f"metrics/{est}/fit_seconds"][()]
            tot += float(np.nansum(fs))
            cells = max(cells, int(np.isfinite(fs).sum()))
        v1 = "axes" in f  # schema 1: /axes and the /cells table
        cw = float(np.nansum(f["cells"]["wall_seconds"][()]))
        grid = " x ".join(f"{a} = {int(v[0])}..{int(v[-1])}" for a, v in h5_axes(f))
        R = len(f["axes/replicate" if v1 else "replicate"])
    print(f"fit_sum {tot:.6f} cells {cells} threads {threads} fit_per_thread {tot / threads:.6f} cell_wall_sum {cw:.6f} "
          f"grid {grid} x {R} replicates")


def check(path, py, cfg):
    """per grid point: means of prefsim vs this script with Welch z-scores"""
    import h5py

    with h5py.File(path, "r") as f:
        est = h5_estimator(f)
        axes = h5_axes(f)
        pf = {}
        for q in METRICS + THEORY:  # a file may leave some out (experiment.metrics)
            path_q = f"metrics/{est}/{q}" if q in METRICS else f"theory/{q}"
            if path_q in f and np.isfinite(f[path_q][()]).any():
                pf[q] = f[path_q][()]
    # this script's arrays are in the .ini's axis order; prefsim's in the file's
    py_names = [a for a, _ in cfg["axes"]]
    names = [a for a, _ in axes]
    if sorted(names) != sorted(py_names):
        sys.exit(f"bt_rate_py.py: axes differ: prefsim {names}, this script {py_names}")
    perm = [py_names.index(a) for a in names] + [len(names)]
    py = {q: np.transpose(py[q], perm) for q in METRICS + THEORY if q in py}
    for a, v in axes:
        pv = dict(cfg["axes"])[a]
        if [int(x) for x in v] != list(pv):
            sys.exit(f"bt_rate_py.py: axis {a} differs: prefsim {list(v)}, this script {pv}")
    shape = pf["param_err"].shape[:-1]
    quantities = [q for q in METRICS + THEORY if q in pf]
    missing = [q for q in METRICS + THEORY if q not in pf]
    zmax = {q: 0.0 for q in quantities}
    nbig = {q: 0 for q in quantities}
    rows = []
    for idx in itertools.product(*[range(k) for k in shape]):
        lab = ", ".join(f"{names[k]}={int(axes[k][1][i])}" for k, i in enumerate(idx))
        row = [lab]
        for q in quantities:
            a, b = pf[q][idx], py[q][idx]
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
            zz = (a.mean() - b.mean()) / se if se > 0 else 0.0
            zmax[q] = max(zmax[q], abs(zz))
            nbig[q] += abs(zz) > 3
            if q in ("param_err", "param_err_crlb"):
                row += [a.mean(), b.mean(), a.mean() / b.mean(), zz]
        # efficiency: rms error over rms CRLB, per side
        for side in (pf, py):
            e, c = side["param_err"][idx], side["param_err_crlb"][idx]
            row.append(math.sqrt(np.nanmean(e ** 2)) / math.sqrt(np.nanmean(c ** 2)))
        rows.append(row)
    npts = len(rows)
    print(f"Agreement with {os.path.basename(path)} ({npts} grid points x {pf['param_err'].shape[-1]} "
          f"replicates in prefsim, {py['param_err'].shape[-1]} here): ratio = prefsim mean / Python mean, "
          "z = (difference of means) / (its standard error, Welch).")
    print()
    print("| point | param_err prefsim | param_err Python | ratio | z | CRLB prefsim | CRLB Python | ratio | z "
          "| rms err / rms CRLB prefsim | same, Python |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.5f} | {r[2]:.5f} | {r[3]:.4f} | {r[4]:+.2f} | {r[5]:.5f} | {r[6]:.5f} | "
              f"{r[7]:.4f} | {r[8]:+.2f} | {r[9]:.3f} | {r[10]:.3f} |")
    print()
    print("| quantity | max abs z over the grid points | points with abs z > 3 |")
    print("|---|---:|---:|")
    for q in quantities:
        print(f"| {q} | {zmax[q]:.2f} | {nbig[q]} / {npts} |")
    if missing:
        print()
        print(f"(not in {os.path.basename(path)}, not compared: {', '.join(missing)})")
    # 20 points x 8 quantities: |z| > 3 somewhere has probability ~ 0.35 by chance alone, so
    # the verdict uses the Bonferroni threshold of a 5% family-wise test over all of them
    ntests = npts * len(quantities)
    zcrit = float(norm.isf(0.025 / ntests))
    bad = [q for q in quantities if zmax[q] > zcrit]
    verdict = (f"AGREE (no |z| above {zcrit:.2f}, the Bonferroni 5% threshold for {ntests} tests)" if not bad else
               f"DISAGREE (|z| above {zcrit:.2f}, the Bonferroni 5% threshold for {ntests} tests) on " + ", ".join(bad))
    r_pe = [r[3] for r in rows]
    r_cr = [r[7] for r in rows]
    print()
    print(f"**agreement: prefsim/Python mean param_err ratio {min(r_pe):.3f}..{max(r_pe):.3f}, mean CRLB ratio "
          f"{min(r_cr):.3f}..{max(r_cr):.3f}; max |z| over {len(quantities)} quantities = "
          f"{max(zmax.values()):.2f} ({sum(nbig.values())} of {ntests} point-quantities with "
          f"|z| > 3): {verdict}**")
    return not bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ini", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                   "experiments", "bt_rate.ini"))
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--replicates", type=int, help="override experiment.replicates")
    ap.add_argument("--out", help="save the per-cell results (.npz)")
    ap.add_argument("--load", help="--check against these saved results instead of running")
    ap.add_argument("--check", metavar="RESULTS.h5", help="compare with prefsim's results file")
    ap.add_argument("--fit-share", metavar="RESULTS.h5")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quiet", action="store_true", help="no per-point table in run mode")
    a = ap.parse_args()
    if a.fit_share:
        fit_share(a.fit_share, a.threads)
        return 0
    cfg = read_ini(a.ini)
    if a.replicates:
        cfg["replicates"] = a.replicates
    if a.load:
        z = np.load(a.load)
        arr = {k: z[k] for k in z.files}
    else:
        arr, _ = run_sweep(cfg, a.procs, a.quiet)
        if a.out:
            np.savez(a.out, **arr)
    if a.check:
        return 0 if check(a.check, arr, cfg) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
