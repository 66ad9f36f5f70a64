#!/usr/bin/env bash
# bench/sweep.sh — sweep throughput and memory, appended to bench/REPORT.md by
# `make bench` (after bench/run.sh has written the fit benchmarks).
#
#   throughput: cells per second of experiments/bt_rate.ini (200 replicates: 4,000
#               cells) at -j1 and -j2, and under mpirun -np 2 (-j1 per rank), all
#               measured in this run; targets -j2/-j1 >= 1.8, MPI 2 ranks >= 1.7
#   memory:     peak RSS of a sweep of 1,000 and of 10,000 small cells; the results
#               store holds every value in memory (8 bytes per cell and stored array,
#               about 30 arrays here) and builds each snapshot in memory, so the peak
#               grows with cells: target <= 1 KiB per cell
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
P="${BUILD:-build-bench}/prefsim"
PM="${BUILD:-build-bench}-mpi/prefsim"
report="${REPORT:-bench/REPORT.md}"
reps="${BENCH_SWEEP_REPS:-2}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/prefsim-sweep.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

best_seconds() {  # best wall time of $reps runs of "$@" (output file removed each time)
  local best=""
  for _ in $(seq 1 "$reps"); do
    rm -f "$tmp/t.h5"
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    local dt
    dt=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$dt < $best" | bc -l)" = 1 ]; then best=$dt; fi
  done
  printf '%.3f' "$best"
}

cells=4000
ini=experiments/bt_rate.ini
t1=$(best_seconds "$P" run "$ini" experiment.replicates=200 -o "$tmp/t.h5" -j1 --quiet)
t2=$(best_seconds "$P" run "$ini" experiment.replicates=200 -o "$tmp/t.h5" -j2 --quiet)
mpi_line="| mpirun -np 2, -j1 per rank | (MPI build missing: make BENCH=1 MPI=1) | | | |"
tm=""
if [ -x "$PM" ] && command -v mpirun >/dev/null; then
  tm=$(best_seconds mpirun --oversubscribe -np 2 "$PM" run "$ini" experiment.replicates=200 -o "$tmp/t.h5" -j1 --quiet)
fi
rate() { echo "scale=1; $cells / $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
verdict() { if [ "$(echo "$1 >= $2" | bc -l)" = 1 ]; then echo MET; else echo MISSED; fi; }
s2=$(ratio "$t1" "$t2")
if [ -n "$tm" ]; then
  sm=$(ratio "$t1" "$tm")
  mpi_line="| mpirun -np 2, -j1 per rank | $tm | $(rate "$tm") | ${sm}x | $(verdict "$sm" 1.7) (target >= 1.7) |"
fi

# memory: many small cells (items world, 20 comparisons each)
cat > "$tmp/small.ini" <<'INI'
[experiment]
name = small
seed = 7
[world]
kind = items
items = 8
[data]
n = 60
heldout = 20
[estimator.bt]
l2 = 1
INI
rss() {  # peak RSS in MiB of one run
  /usr/bin/time -f '%M' -o "$tmp/rss" "$P" run "$tmp/small.ini" "experiment.replicates=$1" -o "$tmp/m.h5" -j2 --quiet --force >/dev/null 2>&1
  echo "scale=1; $(cat "$tmp/rss") / 1024" | bc -l
}
r1=$(rss 1000)
r10=$(rss 10000)
per_cell=$(echo "scale=0; ($r10 - $r1) * 1048576 / 9000" | bc -l)
memverdict=MISSED
if [ "$per_cell" -le 1024 ]; then memverdict=MET; fi

{
  echo
  echo "## Sweep throughput and memory (bench/sweep.sh)"
  echo
  echo "Measured $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(nproc) cores; best of $reps; whole processes, HDF5 writes included."
  echo
  echo "\`experiments/bt_rate.ini\` with 200 replicates ($cells cells):"
  echo
  echo "| run | seconds | cells / s | speed-up over -j1 | verdict |"
  echo "|---|---:|---:|---:|---|"
  echo "| -j1 | $t1 | $(rate "$t1") | 1.00x | |"
  echo "| -j2 | $t2 | $(rate "$t2") | ${s2}x | $(verdict "$s2" 1.8) (target >= 1.8) |"
  echo "$mpi_line"
  echo
  echo "Peak resident memory of a sweep of small cells (items world, 60 comparisons per cell, -j2):"
  echo
  echo "| cells | peak RSS (MiB) |"
  echo "|---:|---:|"
  echo "| 1,000 | $r1 |"
  echo "| 10,000 | $r10 |"
  echo
  echo "**memory: the peak grows by $per_cell bytes per cell — target <= 1024: $memverdict** (the store keeps every value in memory, 8 bytes per cell and stored array, ~30 arrays here, and builds each snapshot of the file in memory before writing it; results/h5store.c)"
} | tee -a "$report"
