"""pl_gen.py — Plackett-Luce ranking CSVs for bench/pl_rank.sh.

    pl_gen.py N_RANKINGS SET_SIZE N_ITEMS SEED OUT.csv

theta* ~ N(0, 1) per item; each ranking offers SET_SIZE distinct items drawn uniformly
and ranks all of them by theta* + Gumbel noise (the Gumbel-max form of Plackett-Luce).
Items are named i0, i1, ...; the file has one column, `ranking` (a>b>c, best first)."""
import sys

import numpy as np

n, s, m, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rng = np.random.default_rng(seed)
theta = rng.normal(size=m)
# s distinct items per ranking: the first s of a random permutation key per row
sets = np.argsort(rng.random((n, m)), axis=1)[:, :s] if m <= 200 else None
if sets is None:  # large m: draw with rejection of rows with a repeat (rare for s << m)
    sets = rng.integers(0, m, size=(n, s))
    while True:
        srt = np.sort(sets, axis=1)
        bad = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
        if not bad.any():
            break
        sets[bad] = rng.integers(0, m, size=(int(bad.sum()), s))
u = theta[sets] + rng.gumbel(size=(n, s))
order = np.argsort(-u, axis=1)
ranked = np.take_along_axis(sets, order, axis=1)
names = np.array(["i%d" % i for i in range(m)])
with open(out, "w") as f:
    f.write("ranking\n")
    f.write("\n".join(">".join(r) for r in names[ranked]))
    f.write("\n")
