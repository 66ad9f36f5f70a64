#!/usr/bin/env bash
# make demo: run the main experiment (bt_rate), verify its claims, draw its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/bt_rate
mkdir -p "$out"
echo "== prefsim run experiments/bt_rate.ini  (5 sample sizes x 4 dimensions x 300 replicates)"
./prefsim run experiments/bt_rate.ini -o "$out/bt_rate.h5" --force
echo
echo "== prefsim verify $out/bt_rate.h5"
status=0
./prefsim verify "$out/bt_rate.h5" || status=$?
echo
echo "== prefsim plot $out/bt_rate.h5"
./prefsim plot "$out/bt_rate.h5"
echo
echo "results: $out/bt_rate.h5   (prefsim info $out/bt_rate.h5; h5py/xarray: see README)"
echo "figures: $out/bt_rate_rate_n.pdf, $out/bt_rate_rate_d.pdf (and .png)"
exit $status
