#!/usr/bin/env bash
# compare_shipped.sh REV [REPLICATES] — every shipped experiment, run by the binary
# of git revision REV (on its own experiment files) and by this tree's binary, gives
# the same /metrics, /truth and /theory (tests/compare_results.py: bit-identical but
# for fit_seconds; theory values within 1e-12 relative, since the Cramér–Rao and
# rDPO scales are now summed by BLAS in another order; datasets REV stored that this
# tree no longer stores because they do not apply, or because an experiment lists
# its metrics, are listed and allowed).
#   REPLICATES (default: each file's own) overrides [experiment] replicates on both
#   sides, for a quicker check.  Needs the build dependencies and /usr/bin/python3
#   with h5py.  Exit 0 when every experiment agrees.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: tests/compare_shipped.sh REV [REPLICATES]}
reps=${2:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-compare-XXXXXX")
trap 'git worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/old" "$rev" >/dev/null
make -C "$work/old" -s -j2 prefsim >/dev/null
make -s -j2 prefsim >/dev/null
over=()
[ -n "$reps" ] && over=("experiment.replicates=$reps")
status=0
for ini in "$work"/old/experiments/*.ini; do
  name=$(basename "$ini" .ini)
  [ -f "experiments/$name.ini" ] || { echo "$name: not shipped any more"; continue; }
  "$work/old/prefsim" run "$ini" "${over[@]}" -o "$work/$name.old.h5" --force --quiet -j2 >/dev/null
  ./prefsim run "experiments/$name.ini" "${over[@]}" -o "$work/$name.new.h5" --force --quiet -j2 >/dev/null
  if /usr/bin/python3 tests/compare_results.py "$work/$name.old.h5" "$work/$name.new.h5" --theory-rtol 1e-12 \
       --allow-dropped >"$work/$name.cmp"; then
    echo "agree  $name ($(grep -c "dropped" "$work/$name.cmp" || true) datasets no longer stored)"
  else
    echo "DIFFER $name"; sed 's/^/    /' "$work/$name.cmp"; status=1
  fi
done
exit $status
