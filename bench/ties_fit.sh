#!/usr/bin/env bash
# ties_fit.sh — `prefsim fit --model davidson` against `--model bt --ties half` on the same
# file: 1,000 items with N(0, 1) scores, 200,000 uniformly random pairs judged with Davidson
# ties (nu = 0.5), whole processes with standard errors, alternating, best of BENCH_TIES_REPS (5)
# runs each.  Appends a section to bench/REPORT.md.  Target (issue #15): davidson within 1.5x of
# bt's time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
PREFSIM=${PREFSIM:-$BUILD/prefsim}
PYTHON=${PYTHON:-/usr/bin/python3}
reps=${BENCH_TIES_REPS:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-ties-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" - "$tmp/ties.csv" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(20261207)
m, n, nu = 1000, 200000, 0.5
th = rng.normal(size=m)
a = rng.integers(0, m, size=n)
b = (a + 1 + rng.integers(0, m - 1, size=n)) % m
ea, eb = np.exp(th[a] / 2), np.exp(th[b] / 2)  # Davidson: pi_a : pi_b : nu sqrt(pi_a pi_b)
s = ea * ea + eb * eb + nu * ea * eb
u = rng.random(n)
win, tie = u < ea * ea / s, (u >= ea * ea / s) & (u < (ea * ea + nu * ea * eb) / s)
with open(sys.argv[1], "w") as f:
    f.write("winner,loser,tie\n")
    for x, y, w, t in zip(a, b, win, tie):
        f.write(f"i{x},i{y},{int(t)}\n" if (w or t) else f"i{y},i{x},0\n")
PY
# the two commands alternate, so that load from other work falls on both alike; per command the
# best wall time and the best CPU time (user + sys) over $reps runs; the last run's output in
# $tmp/out.A and $tmp/out.B
both() {
  local i t
  bwA="" bcA="" bwB="" bcB=""
  for i in $(seq "$reps"); do
    for side in A B; do
      if [ $side = A ]; then set -- "${cmdA[@]}"; else set -- "${cmdB[@]}"; fi
      /usr/bin/time -f "%e %U %S" "$@" >"$tmp/out.$side" 2>"$tmp/err.run" || { cat "$tmp/err.run" >&2; return 1; }
      t=$(tail -1 "$tmp/err.run")
      eval "bw$side=\$(awk -v a=\"${t%% *}\" -v c=\"\$bw$side\" 'BEGIN { print (c == \"\" || a < c) ? a : c }')"
      eval "bc$side=\$(echo \"$t\" | awk -v c=\"\$bc$side\" '{ a = \$2 + \$3; print (c == \"\" || a < c) ? a : c }')"
    done
  done
}
cmdA=("$PREFSIM" fit --model davidson --allow-large "$tmp/ties.csv")
cmdB=("$PREFSIM" fit --model bt --ties half --allow-large "$tmp/ties.csv")
both
status_dav=$(grep -m1 '^# status' "$tmp/out.A" | cut -f2)
it_dav=$(grep -m1 '^# iterations' "$tmp/out.A" | cut -f2)
status_bt=$(grep -m1 '^# status' "$tmp/out.B" | cut -f2)
ratio=$(awk -v a="$bwA" -v b="$bwB" 'BEGIN { printf "%.2f", a / b }')
ratio_cpu=$(awk -v a="$bcA" -v b="$bcB" 'BEGIN { printf "%.2f", a / b }')
verdict=$(awk -v r="$ratio_cpu" 'BEGIN { print (r <= 1.5) ? "MET" : "NOT MET" }')
{
  echo
  echo "## fit --model davidson vs bt --ties half (1,000 items, 200,000 pairs with Davidson ties)"
  echo
  echo "Whole processes with standard errors, alternating, best of $reps each; load average $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| model | wall (s) | CPU (s) | status |"
  echo "|---|---|---|---|"
  echo "| davidson ($it_dav Newton steps) | $bwA | $bcA | $status_dav |"
  echo "| bt --ties half | $bwB | $bcB | $status_bt |"
  echo
  echo "**davidson / bt on 200,000 pairs with ties:** ${ratio_cpu}x in CPU time, ${ratio}x in wall time (target <= 1.5x): $verdict"
} | tee -a bench/REPORT.md
