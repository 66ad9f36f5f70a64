#!/usr/bin/env bash
# Run every cmocka test binary and every shell test; print one line per test
# program and a closing "N passed, M failed" line; exit 1 on any failure.
# Environment: BUILD (build directory), PREFSIM (the binary under test).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export PREFSIM=${PREFSIM:-$PWD/$BUILD/prefsim}
pass=0
fail=0
failed=()
logdir=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-tests-XXXXXX")
run() {
  local name=$1; shift
  local t0=$SECONDS
  if "$@" >"$logdir/$name.log" 2>&1; then
    pass=$((pass + 1))
    printf 'ok    %-28s %4ss\n' "$name" $((SECONDS - t0))
  else
    fail=$((fail + 1))
    failed+=("$name")
    printf 'FAIL  %-28s %4ss  (log below)\n' "$name" $((SECONDS - t0))
    sed 's/^/    | /' "$logdir/$name.log" | tail -n 60
  fi
}
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  run "$(basename "$t")" "$t"
done
for t in tests/test_*.sh; do
  [ -f "$t" ] || continue
  run "$(basename "$t" .sh)" bash "$t"
done
echo
if [ "$fail" -gt 0 ]; then echo "failed: ${failed[*]}"; fi
echo "$pass passed, $fail failed"
rm -rf "$logdir"
[ "$fail" -eq 0 ]
