#!/usr/bin/env bash
# test_fit_nash.sh — `prefsim fit --model nash` (cli/fit_nash.c) against closed forms:
# two items with 8 wins to 2 (P = 0.8), reference mu = (0.3, 0.7), tau = 0.2 give
# pi(a) = 1 / (1 + (7/3) e^-1.5) = 0.657619... (docs/theory.md §3.13a); the cyclic
# margins (0.4, 0.3, 0.2) approach the minimax winner (1/3, 2/9, 4/9) linearly in tau;
# Nash-MD's last iterate lands near the exact answer; every --mu error path.
# Usage: PREFSIM=path/to/prefsim bash tests/test_fit_nash.sh   (default ./prefsim)
set -u
PREFSIM=${PREFSIM:-./prefsim}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-fit-nash-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
val() { awk -F'\t' -v k="$2" '$1 == k { print $2 }' "$1"; }
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }

printf 'winner,loser,count\na,b,8\nb,a,2\n' >"$TMP/two.csv"
printf 'item,probability\na,0.3\nb,0.7\n' >"$TMP/mu.csv"
"$PREFSIM" fit --model nash --tau 0.2 --mu "$TMP/mu.csv" "$TMP/two.csv" >"$TMP/o" 2>"$TMP/e"
check "two items: exit 0, status ok" test "$?" = 0 -a "$(grep -c '^# status	ok' "$TMP/o")" = 1
want=$(awk 'BEGIN { printf "%.12f", 1 / (1 + (7 / 3) * exp(-1.5)) }')
check "two items: pi(a) = 1/(1 + (7/3) e^-1.5) to 1e-11 (printed to 12 digits)" close "$(val "$TMP/o" a)" "$want" 1e-11
check "two items: tau and mu recorded" test "$(val "$TMP/o" '# tau')" = 0.2 -a "$(val "$TMP/o" '# mu')" = "$TMP/mu.csv"
check "two items: the regularised exploitability is certified (<= 1e-10)" \
  awk -v x="$(val "$TMP/o" '# reg_exploitability')" 'BEGIN { exit !(x <= 1e-10 && x >= -1e-10) }'
# exploitability of pi = (pa, 1 - pa): (M pi)_a = 0.3 (1 - pa), (M pi)_b = -0.3 pa, so 0.3 (1 - pa) = 0.10271
# (printed to 3 digits)
check "two items: exploitability = 0.3 (1 - pi(a))" close "$(val "$TMP/o" '# exploitability')" \
  "$(awk -v p="$want" 'BEGIN { printf "%.6f", 0.3 * (1 - p) }')" 1e-3

# a 3-cycle with margins 0.4 (a over b), 0.3 (b over c), 0.2 (c over a): 10 comparisons
# per pair, exact frequencies 0.9, 0.8, 0.7
printf 'winner,loser,count\na,b,9\nb,a,1\nb,c,8\nc,b,2\nc,a,7\na,c,3\n' >"$TMP/cyc.csv"
err_at() { # l1 distance to (1/3, 2/9, 4/9) at tau $1
  "$PREFSIM" fit --model nash --tau "$1" "$TMP/cyc.csv" >"$TMP/c$1" 2>/dev/null || { echo 9; return; }
  awk -F'\t' '$1 == "a" { d += ($2 - 1/3 > 0 ? $2 - 1/3 : 1/3 - $2) } $1 == "b" { d += ($2 - 2/9 > 0 ? $2 - 2/9 : 2/9 - $2) }
              $1 == "c" { d += ($2 - 4/9 > 0 ? $2 - 4/9 : 4/9 - $2) } END { printf "%.12g", d }' "$TMP/c$1"
}
e1=$(err_at 0.002)
e2=$(err_at 0.001)
check "cycle: no Condorcet winner" test "$(val "$TMP/c0.001" '# condorcet_winner')" = NA
check "cycle: tau -> 0 approaches the minimax winner linearly (error halves with tau: ratio in [1.8, 2.2])" \
  awk -v a="$e1" -v b="$e2" 'BEGIN { r = a / b; exit !(b < 0.01 && r > 1.8 && r < 2.2) }'
check "cycle: exploitability within its bound tau log m = 0.0010986 (printed 0.0011)" \
  awk -v x="$(val "$TMP/c0.001" '# exploitability')" -v b="$(val "$TMP/c0.001" '# exploitability_bound')" \
  'BEGIN { exit !(x <= b && b == 0.0011) }'
"$PREFSIM" fit --model nash --tau 0.1 "$TMP/cyc.csv" >"$TMP/ex" 2>/dev/null
"$PREFSIM" fit --model nash --tau 0.1 --param method=nash-md --param eta=1 --param T=3000 "$TMP/cyc.csv" >"$TMP/md" 2>/dev/null
check "Nash-MD's last iterate (eta 1, 3000 steps) within 0.02 of the exact equilibrium" \
  awk -F'\t' 'NR == FNR { if ($1 ~ /^[abc]$/) p[$1] = $2; next } $1 ~ /^[abc]$/ { d = $2 - p[$1]; if (d < 0) d = -d; if (d > m) m = d }
              END { exit !(m < 0.02 && m > 0) }' "$TMP/ex" "$TMP/md"
"$PREFSIM" fit --model nash --tau 0.1 --format json "$TMP/cyc.csv" >"$TMP/j" 2>/dev/null
check "--format json parses, probabilities sum to 1" /usr/bin/python3 -c "
import json, sys
d = json.load(open('$TMP/j'))
assert d['model'] == 'nash' and d['status'] == 'ok'
assert abs(sum(i['probability'] for i in d['items']) - 1) < 1e-12
assert d['fit']['condorcet_winner'] is None"

# SLHF (cli/fit_slhf.c): two items, P(a > b) = 0.8, tau_leader 0.3, tau_follower 0.2, uniform
# references: V(a) = -0.2 log(e^-2.5 / 2 + e^-4 / 2), V(b) = -0.2 log(e^-1 / 2 + e^-2.5 / 2), the
# leader 1 / (1 + exp((V(b) - V(a)) / 0.3)); the follower answers a with omega(a | a) / omega(b | a) =
# e^{(0.5 - 0.2) / 0.2}
"$PREFSIM" fit --model slhf --param tau_leader=0.3 --param tau_follower=0.2 "$TMP/two.csv" >"$TMP/s" 2>"$TMP/e"
check "slhf two items: exit 0, status ok" test "$?" = 0 -a "$(val "$TMP/s" '# status')" = ok
va=$(awk 'BEGIN { printf "%.15f", -0.2 * log(exp(-2.5) / 2 + exp(-4) / 2) }')
vb=$(awk 'BEGIN { printf "%.15f", -0.2 * log(exp(-1) / 2 + exp(-2.5) / 2) }')
check "slhf two items: V(a), V(b) at the closed form (12 digits)" sh -c "
  awk -F'\t' -v va=$va -v vb=$vb '\$1 == \"a\" { da = \$3 - va } \$1 == \"b\" { db = \$3 - vb }
    END { exit !(da < 1e-11 && da > -1e-11 && db < 1e-11 && db > -1e-11) }' '$TMP/s'"
check "slhf two items: the leader at the closed form" close "$(val "$TMP/s" a)" \
  "$(awk -v a="$va" -v b="$vb" 'BEGIN { printf "%.12f", 1 / (1 + exp((b - a) / 0.3)) }')" 1e-11
check "slhf two items: the follower's answer to a, e^1.5 : 1" sh -c "
  awk -F'\t' '\$1 == \"#|\" || \$1 == \"#| a\" { } \$0 ~ /^#\\| a\t/ { r = \$2 / \$3 } END { d = r - exp(1.5); exit !(d < 1e-9 && d > -1e-9) }' '$TMP/s'"
check "slhf two items: worst cases 0.5 and 0.2, best item a, gap within its bound" sh -c "
  test \"\$(awk -F'\t' '\$1 == \"a\" || \$1 == \"b\" { printf \"%s \", \$4 }' '$TMP/s')\" = '0.5 0.2 ' &&
  test \"\$(awk -F'\t' '\$1 == \"# best_worst_case_item\" { print \$2 }' '$TMP/s')\" = a &&
  awk -v g=\"\$(awk -F'\t' '\$1 == \"# maxmin_pure_gap\" { print \$2 }' '$TMP/s')\" \
      -v b=\"\$(awk -F'\t' '\$1 == \"# maxmin_pure_gap_bound\" { print \$2 }' '$TMP/s')\" 'BEGIN { exit !(g >= 0 && g <= b && b > 0.34 && b < 0.35) }'"

# --mu errors: exit 3 naming the file and what is wrong
mu_err() { # $1 file content, $2 expected text
  printf '%b' "$1" >"$TMP/bad.csv"
  "$PREFSIM" fit --model nash --mu "$TMP/bad.csv" "$TMP/two.csv" >/dev/null 2>"$TMP/e"
  test "$?" = 3 && grep -q -- "$2" "$TMP/e" && grep -q "bad.csv" "$TMP/e"
}
check "--mu: an item of the data missing" mu_err 'item,probability\na,1\n' "item 'b' of the data has no probability"
check "--mu: an unknown item" mu_err 'item,probability\na,0.5\nb,0.25\nz,0.25\n' "item 'z' is not among"
check "--mu: a repeated item" mu_err 'item,probability\na,0.5\na,0.5\n' "appears twice"
check "--mu: a zero probability" mu_err 'item,probability\na,1\nb,0\n' "not a positive number"
check "--mu: not a number" mu_err 'item,probability\na,x\nb,1\n' "not a positive number"
check "--mu: a wrong total" mu_err 'item,probability\na,0.5\nb,0.6\n' "sum to 1.1"
check "--mu: a wrong header" mu_err 'name,p\na,0.5\nb,0.5\n' "the header must be"
check "--mu: an empty file" mu_err '' "empty file"
"$PREFSIM" fit --model nash --mu "$TMP/none.csv" "$TMP/two.csv" >/dev/null 2>"$TMP/e"
check "--mu: a missing file: exit 3" test "$?" = 3
"$PREFSIM" fit --model nash --tau 0 "$TMP/two.csv" >/dev/null 2>"$TMP/e"
check "--tau 0: exit 2, the allowed range named" test "$?" = 2
"$PREFSIM" fit --model nash --tau nan "$TMP/two.csv" >/dev/null 2>"$TMP/e"
check "--tau nan: exit 2" test "$?" = 2
"$PREFSIM" fit --model minimax --mu "$TMP/mu.csv" "$TMP/two.csv" >/dev/null 2>"$TMP/e"
check "--mu with another model: exit 2" test "$?" = 2

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
