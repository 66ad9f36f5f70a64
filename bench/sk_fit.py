#!/usr/bin/python3
"""sk_fit.py — the scikit-learn peer of bench_bt (run with Debian's /usr/bin/python3).

Fits LogisticRegression(C = 1/lambda, fit_intercept=False, solver="lbfgs") to the
comparison rows bench_bt wrote into DIR (x_i = phi_first - phi_second, y_i = +1 when
the first-shown item won, else -1), so its objective is prefsim's BT objective
    f(w) = sum_i log(1 + exp(-y_i w.x_i)) + (lambda/2) ||w||^2
times C (sklearn 1.2 minimises f / n internally: same minimiser, gtol on that scale).

Equal accuracy: the tolerance is not guessed.  We walk a ladder tol = 1e-3, 1e-4, ...
and keep the loosest tolerance whose objective is within REL (1e-10) of prefsim's
objective F_TARGET (or below it).  That tolerance is then timed best-of-REPS, timing
only the .fit() call (data loading is outside the clock).  Writes DIR/sk_coef.bin
(raw float64 coefficients) and DIR/sk_result.txt ("key value" lines) for bench_bt.

usage: sk_fit.py DIR items|features LAMBDA F_TARGET REPS
"""
import os
import sys
import time
import warnings

import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

REL = 1e-10
LADDER = [10.0**-k for k in range(3, 13)]


def blas_name():
    """The BLAS numpy runs on, as one token: openblas-0.3.21/SkylakeX/2-threads."""
    try:
        from threadpoolctl import threadpool_info
        for lib in threadpool_info():
            if lib.get("user_api") == "blas":
                return "%s-%s/%s/%s-threads" % (lib.get("internal_api"), lib.get("version"),
                                                 lib.get("architecture"), lib.get("num_threads"))
    except Exception:
        pass
    return "unknown"


def objective(X, y, lam, w):
    z = y * (X @ w)
    return float(np.logaddexp(0.0, -z).sum() + 0.5 * lam * w.dot(w))


def fit_once(X, y, lam, tol):
    clf = LogisticRegression(C=1.0 / lam, fit_intercept=False, solver="lbfgs", tol=tol,
                             max_iter=100000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        clf.fit(X, y)
        t1 = time.perf_counter()
    return t1 - t0, clf


def main():
    d, kind, lam, f_target, reps = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    y = np.load(os.path.join(d, "y.npy"))
    if kind == "items":
        m = int(np.load(os.path.join(d, "shape.npy"))[1])
        X = sp.csr_matrix((np.load(os.path.join(d, "data.npy")), np.load(os.path.join(d, "indices.npy")),
                           np.load(os.path.join(d, "indptr.npy"))), shape=(y.shape[0], m))
    else:
        X = np.load(os.path.join(d, "X.npy"))
    goal = f_target + REL * abs(f_target)
    chosen = None
    for tol in LADDER:
        t, clf = fit_once(X, y, lam, tol)
        w = clf.coef_.ravel().astype(np.float64)
        f = objective(X, y, lam, w)
        chosen = (tol, t, clf, w, f)
        if f <= goal:
            break
    tol, best, clf, w, f = chosen
    for _ in range(reps - 1):
        t, clf = fit_once(X, y, lam, tol)
        best = min(best, t)
    w = clf.coef_.ravel().astype(np.float64)
    w.tofile(os.path.join(d, "sk_coef.bin"))
    with open(os.path.join(d, "sk_result.txt"), "w") as out:
        out.write("version %s\n" % sklearn.__version__)
        out.write("numpy %s\n" % np.__version__)
        out.write("scipy %s\n" % scipy.__version__)
        out.write("blas %s\n" % blas_name())
        out.write("tol %.3g\n" % tol)
        out.write("seconds %.9f\n" % best)
        out.write("n_iter %d\n" % int(np.max(clf.n_iter_)))
        out.write("objective %.17g\n" % objective(X, y, lam, w))
        out.write("matched %d\n" % int(f <= goal))


if __name__ == "__main__":
    main()
