#!/usr/bin/env bash
# nash_fit.sh — `prefsim fit --model nash` (the regularised Nash equilibrium of the
# empirical preference matrix, certified Newton) against `--model minimax` (GLPK's LP)
# on the same file: 1,000 items and 200,000 comparisons of a general (intransitive)
# preference model, whole processes, best of BENCH_NASH_REPS (3) runs each.  Appends a
# section to bench/REPORT.md.  Target (issue #16): nash under one second.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
PREFSIM=${PREFSIM:-$BUILD/prefsim}
PYTHON=${PYTHON:-/usr/bin/python3}
reps=${BENCH_NASH_REPS:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-nash-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# items with 2-d embeddings (a rotation-invariant general preference model, as population
# gpm): P(a > b) = sigma(u_a^T R v_b - u_b^T R v_a), R a quarter turn; seeded
"$PYTHON" - "$tmp/games.csv" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(20261207)
m, n = 1000, 200000
e = rng.normal(size=(m, 2))
a = rng.integers(0, m, size=n)
b = (a + 1 + rng.integers(0, m - 1, size=n)) % m
s = e[a, 0] * e[b, 1] - e[a, 1] * e[b, 0] + 0.5 * (e[a, 0] - e[b, 0])
win = rng.random(n) < 1 / (1 + np.exp(-s))
with open(sys.argv[1], "w") as f:
    f.write("winner,loser\n")
    for x, y, w in zip(a, b, win):
        f.write(f"i{x},i{y}\n" if w else f"i{y},i{x}\n")
PY
best() { # best wall seconds of $reps runs of "$@"; the last run's output in $tmp/out
  local b="" t
  for _ in $(seq "$reps"); do
    /usr/bin/time -f %e "$@" >"$tmp/out" 2>"$tmp/err.run" || { cat "$tmp/err.run" >&2; return 1; }
    t=$(tail -1 "$tmp/err.run")
    b=$(awk -v a="$t" -v c="$b" 'BEGIN { print (c == "" || a < c) ? a : c }')
  done
  echo "$b"
}
t_nash=$(best "$PREFSIM" fit --model nash --allow-large --param tau=0.1 "$tmp/games.csv")
status_nash=$(grep -m1 '^# status' "$tmp/out" | cut -f2)
t_lp=$(best "$PREFSIM" fit --model minimax --allow-large "$tmp/games.csv")
status_lp=$(grep -m1 '^# status' "$tmp/out" | cut -f2)
{
  echo
  echo "## fit --model nash vs minimax (1,000 items, 200,000 comparisons)"
  echo
  echo "Whole processes, best of $reps; load average $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| model | wall (s) | status |"
  echo "|---|---|---|"
  echo "| nash (tau = 0.1, exact) | $t_nash | $status_nash |"
  echo "| minimax (GLPK LP) | $t_lp | $status_lp |"
  echo
  echo "**nash fit on 1,000 items, 200,000 comparisons:** ${t_nash} s (target < 1 s); the LP ${t_lp} s"
} | tee -a bench/REPORT.md
