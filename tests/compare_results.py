#!/usr/bin/env python3
"""compare_results.py OLD.h5 NEW.h5 — the data of two prefsim results files.

Every dataset under /metrics, /truth and /theory that both hold must be
bit-identical (NaN equal to NaN), except fit_seconds (wall clock).  Theory
values listed with --theory-rtol may differ by that relative tolerance (a theory
value computed by another, equally exact algorithm: a different summation order).
OLD may hold datasets NEW no longer stores (metrics that do not apply); they are
listed, and must be NaN everywhere in OLD unless --allow-dropped is given; datasets
only NEW holds (quantities added since) are listed.
Exit 0 when they agree, 1 otherwise (every difference is printed)."""
import argparse
import sys

import h5py
import numpy as np


def datasets(f):
    out = {}
    for top in ("metrics", "truth", "theory"):
        if top not in f:
            continue
        def visit(name, obj, top=top):
            if isinstance(obj, h5py.Dataset) and not h5py.h5ds.is_scale(obj.id):  # schema 2 links the axes into groups
                out[f"{top}/{name}"] = obj
        f[top].visititems(visit)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--theory-rtol", type=float, default=0.0)
    ap.add_argument("--allow-dropped", action="store_true")
    a = ap.parse_args()
    bad = 0
    with h5py.File(a.old, "r") as fo, h5py.File(a.new, "r") as fn:
        do, dn = datasets(fo), datasets(fn)
        for path, d in sorted(dn.items()):
            if path.endswith("/fit_seconds"):
                continue
            if path not in do:
                print(f"{path}: new dataset (a quantity {a.old} did not have)")
                continue
            x, y = do[path][()], d[()]
            if x.shape != y.shape:
                print(f"{path}: shape {x.shape} vs {y.shape}")
                bad += 1
                continue
            same = (x == y) | (np.isnan(x) & np.isnan(y))
            if same.all():
                continue
            if path.startswith("theory/") and a.theory_rtol > 0:
                both = np.isfinite(x) & np.isfinite(y)
                rel = np.abs(x - y) / np.maximum(np.abs(x), 1e-300)
                if (same | (both & (rel <= a.theory_rtol))).all():
                    print(f"{path}: equal within rtol {a.theory_rtol} (max rel diff {rel[both].max():.2e})")
                    continue
            n = int((~same).sum())
            print(f"{path}: {n} of {x.size} values differ (e.g. {x[~same].ravel()[:3]} vs {y[~same].ravel()[:3]})")
            bad += 1
        for path in sorted(set(do) - set(dn)):
            x = do[path][()]
            if np.isnan(x).all():
                continue
            print(f"{path}: dropped, but {int(np.isfinite(x).sum())} of {x.size} values were not NaN")
            if not a.allow_dropped:
                bad += 1
    print(f"{a.old} vs {a.new}: {'agree' if not bad else f'{bad} differences'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
