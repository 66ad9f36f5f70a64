#!/usr/bin/env bash
# bench/bt_rate.sh — the shipped experiments/bt_rate.ini sweep (300 replicates x 20 grid
# points = 6,000 cells) in prefsim against the same sweep as a numpy + scikit-learn script
# (bench/bt_rate_py.py: numpy simulation, LogisticRegression(penalty=None), a 2-process
# multiprocessing pool, the same six metrics and the Cramer-Rao scale per cell).
#
# Run by `make bench` after bench/sweep.sh; replaces its own section of bench/REPORT.md
# ("## bt_rate sweep vs a numpy + scikit-learn script") or appends it.  Targets:
#   speed:      Python wall / prefsim wall (both -j2 / 2 processes) >= 4
#   efficiency: prefsim wall <= 1.3 x sum(fit_seconds over estimators and cells) / threads
# Both sides are timed as whole processes (start-up, imports, HDF5 or .npz writes included),
# interleaved (prefsim, Python, prefsim, ...), and the median of BENCH_BT_RATE_REPS runs
# each is reported.  numpy cannot reproduce prefsim's random streams, so the two sweeps are
# compared statistically (bt_rate_py.py --check): per grid point, means of the six metrics
# and the two Cramer-Rao scales with Welch z-scores.
#
# Environment:
#   BUILD=build-bench          prefsim is $BUILD/prefsim (make BENCH=1 build-bench/prefsim)
#   BENCH_BT_RATE_REPS=3       runs of each side (median reported)
#   BENCH_BT_RATE_J=2          prefsim -j and the Python pool size
#   BENCH_BT_RATE_LABEL=...    a label for the section (e.g. BEFORE)
#   BENCH_BT_RATE_REPLICATES=  fewer replicates, for testing this script only (not the benchmark)
#   BENCH_BT_RATE_INI=experiments/bt_rate.ini   the sweep (e.g. an older binary's copy of it)
#   PYTHON=/usr/bin/python3    Debian's python3 (numpy, scikit-learn, h5py)
#   REPORT=bench/REPORT.md     "-" to print only
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
P="${BUILD:-build-bench}/prefsim"
python="${PYTHON:-/usr/bin/python3}"
report="${REPORT:-bench/REPORT.md}"
reps="${BENCH_BT_RATE_REPS:-3}"
j="${BENCH_BT_RATE_J:-2}"
label="${BENCH_BT_RATE_LABEL:-}"
ini="${BENCH_BT_RATE_INI:-experiments/bt_rate.ini}"
prefsim_over=()
py_over=()
if [ -n "${BENCH_BT_RATE_REPLICATES:-}" ]; then
  prefsim_over=("experiment.replicates=$BENCH_BT_RATE_REPLICATES")
  py_over=(--replicates "$BENCH_BT_RATE_REPLICATES")
fi
heading="## bt_rate sweep vs a numpy + scikit-learn script"

if [ ! -x "$P" ]; then
  echo "bench/bt_rate.sh: $P missing; run 'make BENCH=1 build-bench/prefsim' (or 'make bench')" >&2
  exit 2
fi
if [ ! -x /usr/bin/time ]; then
  echo "bench/bt_rate.sh: /usr/bin/time missing (apt-get install time)" >&2
  exit 2
fi
tmp="$(mktemp -d "${TMPDIR:-/tmp}/prefsim-btrate.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

load_start="$(uptime | sed 's/^ *//')"
started="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
for i in $(seq 1 "$reps"); do
  echo "bench/bt_rate.sh: run $i/$reps: prefsim -j$j ..." >&2
  /usr/bin/time -f '%e %U %S' -o "$tmp/tp$i" \
    "$P" run "$ini" "${prefsim_over[@]}" -j"$j" --force --quiet -o "$tmp/p$i.h5" >/dev/null 2>"$tmp/p$i.err" || {
    cat "$tmp/p$i.err" >&2
    exit 1
  }
  echo "bench/bt_rate.sh: run $i/$reps: bt_rate_py.py --procs $j ..." >&2
  /usr/bin/time -f '%e %U %S' -o "$tmp/ty$i" \
    "$python" bench/bt_rate_py.py --ini "$ini" --procs "$j" "${py_over[@]}" --quiet --out "$tmp/py$i.npz" >"$tmp/py$i.log" 2>&1 || {
    cat "$tmp/py$i.log" >&2
    exit 1
  }
done
load_end="$(uptime | sed 's/^ *//')"

# prefsim's fit seconds per run, from its HDF5 output
for i in $(seq 1 "$reps"); do
  "$python" bench/bt_rate_py.py --fit-share "$tmp/p$i.h5" --threads "$j" >"$tmp/fs$i"
done

# index of the median wall time (ties: the first)
median_run() {  # $1 = tp or ty
  for i in $(seq 1 "$reps"); do echo "$(cut -d' ' -f1 "$tmp/$1$i") $i"; done | sort -g | sed -n "$(((reps + 1) / 2))p" | cut -d' ' -f2
}
mp=$(median_run tp)
my=$(median_run ty)
field() { cut -d' ' -f"$2" "$1"; }
calc() { awk "BEGIN { printf \"%.${1}f\", $2 }"; }

wp=$(field "$tmp/tp$mp" 1)
cpup=$(calc 2 "$(field "$tmp/tp$mp" 2) + $(field "$tmp/tp$mp" 3)")
wy=$(field "$tmp/ty$my" 1)
cpuy=$(calc 2 "$(field "$tmp/ty$my" 2) + $(field "$tmp/ty$my" 3)")
speed=$(calc 2 "$wy / $wp")
speed_cpu=$(calc 2 "$cpuy / $cpup")
fit_sum=$(awk '{print $2}' "$tmp/fs$mp")
cells=$(awk '{print $4}' "$tmp/fs$mp")
fit_thr=$(awk '{print $8}' "$tmp/fs$mp")
grid=$(sed 's/.* grid //' "$tmp/fs$mp")
cellwall_thr=$(awk -v j="$j" '{print $10 / j}' "$tmp/fs$mp")
eff=$(calc 2 "$wp / $fit_thr")
# where prefsim's wall goes: fits, the rest of each cell (simulation, metrics, theory), and
# outside the cells (HDF5 writes, start-up, threads waiting)
pct_fit=$(calc 0 "100 * $fit_thr / $wp")
pct_cell=$(calc 0 "100 * ($cellwall_thr - $fit_thr) / $wp")
pct_out=$(calc 0 "100 - $pct_fit - $pct_cell")
py_sweep=$(sed -n 's/^bt_rate_py: wall \([0-9.]*\) s; fit sum \([0-9.]*\) s.*/\1/p' "$tmp/py$my.log")
py_fit=$(sed -n 's/^bt_rate_py: wall \([0-9.]*\) s; fit sum \([0-9.]*\) s.*/\2/p' "$tmp/py$my.log")
py_nc=$(sed -n 's/.*lbfgs not converged in \([0-9]*\) cells.*/\1/p' "$tmp/py$my.log")
py_eff=$(calc 2 "$wy / ($py_fit / $j)")
allp=$(for i in $(seq 1 "$reps"); do field "$tmp/tp$i" 1; done | paste -sd, | sed 's/,/, /g')
ally=$(for i in $(seq 1 "$reps"); do field "$tmp/ty$i" 1; done | paste -sd, | sed 's/,/, /g')
alleff=$(for i in $(seq 1 "$reps"); do
  awk -v w="$(field "$tmp/tp$i" 1)" '{printf "%.2f\n", w / $8}' "$tmp/fs$i"
done | paste -sd, | sed 's/,/, /g')
verdict() { if [ "$(awk "BEGIN { print ($1) ? 1 : 0 }")" = 1 ]; then echo MET; else echo MISSED; fi; }
v_speed=$(verdict "$speed >= 4")
v_eff=$(verdict "$eff <= 1.3")
rev="$("$P" --version 2>/dev/null | head -1 || echo prefsim) at $P; this tree: $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- core sim estimators experiments results cli 2>/dev/null || echo ', C sources modified')"
note=""
size="the shipped size"
if [ -n "${BENCH_BT_RATE_REPLICATES:-}" ]; then size="replicates cut to $BENCH_BT_RATE_REPLICATES: a test of this script, not the benchmark"; fi
if [ "$reps" -lt 3 ]; then note=" (BENCH_BT_RATE_REPS=$reps: no true median; the faster of two, or the one run)"; fi

"$python" bench/bt_rate_py.py --ini "$ini" "${py_over[@]}" --load "$tmp/py$my.npz" --check "$tmp/p$mp.h5" >"$tmp/check.md" || true

{
  echo
  echo "$heading"
  echo
  [ -n "$label" ] && echo "**$label.**" && echo
  echo "Measured by bench/bt_rate.sh on $started; $rev; $("$python" --version 2>&1), numpy $("$python" -c 'import numpy; print(numpy.__version__)'), scikit-learn $("$python" -c 'import sklearn; print(sklearn.__version__)')."
  echo "Machine load (\`uptime\`) before: $load_start; after: $load_end ($(nproc) cores; other work on them inflates every wall time below, and the ratios less)."
  echo
  echo "\`$ini\` ($size): $cells cells ($grid; 200 contexts x 8 responses, 2000 held-out pairs). prefsim: \`prefsim run $ini -j$j --force --quiet -o OUT.h5\`. Python: \`bench/bt_rate_py.py --procs $j\` (numpy simulation, \`LogisticRegression(penalty=None, fit_intercept=False)\` with lbfgs and its default tol, \`multiprocessing.Pool($j)\` with one BLAS/OpenMP thread per worker, the six metrics and the Cramer-Rao scale sqrt(tr I^-1) per cell). Whole processes, wall clock, median of $reps interleaved runs$note."
  echo
  echo "| quantity | prefsim | Python (numpy + scikit-learn) | Python / prefsim |"
  echo "|---|---:|---:|---:|"
  echo "| wall (s), median | $wp | $wy | **${speed}x** |"
  echo "| wall (s), every run | $allp | $ally | |"
  echo "| CPU user + sys (s), median run | $cpup | $cpuy | ${speed_cpu}x |"
  echo "| sum of fit seconds over cells (s) | $(calc 3 "$fit_sum") | $(calc 3 "$py_fit") | $(calc 2 "$py_fit / $fit_sum")x |"
  echo "| sum of fit seconds / $j threads (s) | $(calc 3 "$fit_thr") | $(calc 3 "$py_fit / $j") | |"
  echo "| sum of per-cell wall seconds / $j threads (s) | $(calc 3 "$cellwall_thr") | | |"
  echo "| wall / (sum of fit seconds / threads) | **$eff** (every run: $alleff) | $py_eff | |"
  echo
  echo "prefsim's wall, split by its own clocks (/cells wall_seconds and fit_seconds, per thread): fits ${pct_fit}%, the rest of the cells (simulation, held-out and policy metrics, theory values) ${pct_cell}%, outside the cells (HDF5 writes, start-up, idle threads) ${pct_out}%. fit_seconds and wall_seconds are wall clocks: on a loaded machine they include time preempted, so the efficiency ratio is only as good as the load line above allows (compare the CPU row)."
  echo
  echo "Python: the pool itself took $py_sweep s of its $wy s (the rest is interpreter start-up and imports); lbfgs hit max_iter in $py_nc cells."
  echo
  echo "**bt_rate sweep speed: Python $wy s / prefsim $wp s = ${speed}x — target >= 4x: $v_speed**"
  echo
  echo "**bt_rate sweep efficiency: prefsim wall $wp s / (sum of fit_seconds $(calc 3 "$fit_sum") s / $j threads) = $eff — target <= 1.3: $v_eff**"
  echo
  echo "### Statistical agreement of the two sweeps (bt_rate_py.py --check)"
  echo
  cat "$tmp/check.md"
} >"$tmp/section.md"

cat "$tmp/section.md"
if [ "$report" != "-" ]; then
  touch "$report"
  # replace our section (from its heading to the next "## " heading) or append it
  awk -v h="$heading" '
    $0 == h { skip = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }
  ' "$report" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >"$tmp/report.md"
  cat "$tmp/section.md" >>"$tmp/report.md"
  cp "$tmp/report.md" "$report"
  echo >&2
  echo "bench/bt_rate.sh: wrote its section of $report" >&2
fi
