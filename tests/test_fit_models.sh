#!/usr/bin/env bash
# test_fit_models.sh — `prefsim fit --model minimax` and `--model gpm` on small CSV
# files with known answers (docs/theory.md §3.7, §3.13, O12), and their error paths.
# (Every other registered item model: test_fit_registry.sh.)
#
#   rps         a rock-paper-scissors tournament: uniform minimax winner, no Condorcet
#               winner, exploitability 0, no missing pairs;
#   dominant    one item beats every other (with counts): probability 1, Condorcet winner;
#   missing     the same with two pairs never compared: still probability 1 (the missing
#               pairs are ties at P = 1/2), but no Condorcet winner, and both pairs listed;
#   o12         counts 8:2, 9:1, 7:3 on the cycle 0 -> 1 -> 2 -> 0 (margins 0.3, 0.4,
#               0.2): p = (4/9, 2/9, 1/3);
#   cycle70     each cycle pair 7:3: GPM (k = 1, converged) reproduces the logits
#               +-log(7/3) in the cyclic direction, skew-symmetric with a zero diagonal;
#               the same seed gives the same output byte for byte.
# Tolerances: 1e-9 for LP probabilities (printed with 12 digits); 1e-6 for GPM logits
# (the fit stops at ||grad|| <= 1e-8 x weight; the logit error is that over the
# curvature, ~1e-7 here).
#
# Usage: PREFSIM=path/to/prefsim bash tests/test_fit_models.sh   (default ./prefsim)
set -u
PREFSIM=${PREFSIM:-./prefsim}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-fit-models-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export LC_ALL=C.UTF-8
pass=0
fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
ko() { echo "FAIL $*"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit $?
}
if [ ! -x "$PREFSIM" ]; then
  ko "prefsim binary '$PREFSIM' is not executable (set PREFSIM)"
  finish
fi

# value of "# key<TAB>value" in file $1
meta() { awk -F'\t' -v k="# $2" '$1 == k { print $2; exit }' "$1"; }
# the probability of item $2 in minimax output $1
prob() { awk -F'\t' -v k="$2" 'NR > 1 && $1 == k { print $2; exit }' "$1"; }
# |$1 - $2| <= $3
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= t) }'; }
# entry (row item $2, column item $3) of the gpm matrix in $1
entry() {
  awk -F'\t' -v r="$2" -v c="$3" 'NR == 1 { for (i = 2; i <= NF; i++) col[$i] = i; next }
    /^#/ { exit } $1 == r { print $(col[c]); exit }' "$1"
}

# ------------------------------------------------------------------ minimax
printf 'winner,loser\nrock,scissors\nscissors,paper\npaper,rock\nrock,scissors\nscissors,paper\npaper,rock\n' >"$TMP/rps.csv"
"$PREFSIM" fit --model minimax "$TMP/rps.csv" >"$TMP/rps.out" 2>"$TMP/rps.err"
check "minimax rps: exit 0" test $? -eq 0
check "minimax rps: uniform winner" \
  bash -c "$(declare -f near prob); for i in rock paper scissors; do near \"\$(prob '$TMP/rps.out' \$i)\" 0.333333333333 1e-9 || exit 1; done"
check "minimax rps: no Condorcet winner" test "$(meta "$TMP/rps.out" condorcet_winner)" = NA
check "minimax rps: exploitability 0" near "$(meta "$TMP/rps.out" exploitability)" 0 1e-9
check "minimax rps: no missing pairs" test "$(meta "$TMP/rps.out" never_compared)" = 0
check "minimax rps: header" test "$(head -n 1 "$TMP/rps.out")" = "$(printf 'item\tprobability')"

# the shipped Condorcet trap (docs/real_data.md): BT, a Borda count on a balanced design, puts B
# first; the minimax winner plays the Condorcet winner A
trap="$(dirname "$0")/../docs/data/condorcet_trap.csv"
"$PREFSIM" fit --model bt "$trap" >"$TMP/trap_bt.out" 2>&1
check "condorcet trap: BT's top item is B" test "$(awk -F'\t' 'NR > 1 && !/^#/ { if ($2 > m || b == "") { m = $2; b = $1 } } END { print b }' "$TMP/trap_bt.out")" = B
"$PREFSIM" fit --model minimax "$trap" >"$TMP/trap_mm.out" 2>&1
check "condorcet trap: the minimax winner plays A with probability 1" near "$(prob "$TMP/trap_mm.out" A)" 1 1e-12
check "condorcet trap: A is the Condorcet winner" test "$(meta "$TMP/trap_mm.out" condorcet_winner)" = A

printf 'winner,loser,count\nboss,b,3\nb,boss,1\nboss,c,2\nc,b,5\nb,c,1\nboss,d,1\nd,b,2\nc,d,1\n' >"$TMP/dominant.csv"
"$PREFSIM" fit --model minimax "$TMP/dominant.csv" >"$TMP/dominant.out" 2>&1
check "minimax dominant: exit 0" test $? -eq 0
check "minimax dominant: probability 1" near "$(prob "$TMP/dominant.out" boss)" 1 1e-12
check "minimax dominant: others 0" near "$(prob "$TMP/dominant.out" d)" 0 1e-12
check "minimax dominant: Condorcet winner named" test "$(meta "$TMP/dominant.out" condorcet_winner)" = boss

printf 'winner,loser,count\nboss,b,3\nb,boss,1\nboss,c,2\nc,b,5\nb,c,1\nd,c,1\n' >"$TMP/missing.csv"
"$PREFSIM" fit --model minimax "$TMP/missing.csv" >"$TMP/missing.out" 2>&1
check "minimax missing: exit 0" test $? -eq 0
check "minimax missing: probability 1" near "$(prob "$TMP/missing.out" boss)" 1 1e-12
check "minimax missing: tie blocks the Condorcet winner" test "$(meta "$TMP/missing.out" condorcet_winner)" = NA
check "minimax missing: two pairs counted" test "$(meta "$TMP/missing.out" never_compared)" = 2
check "minimax missing: pairs listed" \
  test "$(grep '^# never_compared_pair' "$TMP/missing.out" | cut -f2- | tr '\t\n' ' ')" = "boss d b d "

printf 'winner,loser,count\nx0,x1,8\nx1,x0,2\nx1,x2,9\nx2,x1,1\nx2,x0,7\nx0,x2,3\n' >"$TMP/o12.csv"
"$PREFSIM" fit --model minimax - <"$TMP/o12.csv" >"$TMP/o12.out" 2>&1
check "minimax O12 from stdin: exit 0" test $? -eq 0
check "minimax O12: p = (4/9, 2/9, 1/3)" bash -c "$(declare -f near prob)
  near \"\$(prob '$TMP/o12.out' x0)\" 0.444444444444 1e-9 && near \"\$(prob '$TMP/o12.out' x1)\" 0.222222222222 1e-9 &&
  near \"\$(prob '$TMP/o12.out' x2)\" 0.333333333333 1e-9"

# ---------------------------------------------------------------------- gpm
printf 'winner,loser,count\nr,s,7\ns,r,3\ns,p,7\np,s,3\np,r,7\nr,p,3\n' >"$TMP/cycle70.csv"
"$PREFSIM" fit --model gpm "$TMP/cycle70.csv" --k 1 --tau 1 --seed 7 >"$TMP/g1.out" 2>&1
check "gpm cycle: exit 0" test $? -eq 0
check "gpm cycle: converged" test "$(meta "$TMP/g1.out" converged)" = yes
L=$(awk 'BEGIN { printf "%.15g", log(7 / 3) }')
check "gpm cycle: S(r,s) = log(7/3)" near "$(entry "$TMP/g1.out" r s)" "$L" 1e-6
check "gpm cycle: S(s,p) = log(7/3)" near "$(entry "$TMP/g1.out" s p)" "$L" 1e-6
check "gpm cycle: S(p,r) = log(7/3)" near "$(entry "$TMP/g1.out" p r)" "$L" 1e-6
check "gpm cycle: skew-symmetric" test "$(entry "$TMP/g1.out" s r)" = "-$(entry "$TMP/g1.out" r s)"
check "gpm cycle: zero diagonal" test "$(entry "$TMP/g1.out" p p)" = 0
"$PREFSIM" fit --model gpm "$TMP/cycle70.csv" --k=1 --tau=1 --seed=7 >"$TMP/g2.out" 2>&1
check "gpm: same seed, same output" cmp -s "$TMP/g1.out" "$TMP/g2.out"
"$PREFSIM" fit --model gpm "$TMP/cycle70.csv" --k 1 --tau 1 --seed 8 >"$TMP/g3.out" 2>&1
check "gpm: another seed, another path" test "$(meta "$TMP/g3.out" iterations)" != "$(meta "$TMP/g1.out" iterations)"
check "gpm: another seed, same logits" near "$(entry "$TMP/g3.out" r s)" "$L" 1e-6
"$PREFSIM" fit --model gpm "$TMP/rps.csv" --k 2 --restarts 3 --iterations 300 >"$TMP/g4.out" 2>"$TMP/g4.err"
check "gpm deterministic cycle (no finite optimum): exit 6, status not-converged, the matrix printed" \
  test $? -eq 6 -a "$(meta "$TMP/g4.out" converged)" = no -a "$(meta "$TMP/g4.out" status)" = not-converged
check "gpm deterministic cycle: oriented" \
  awk -v a="$(entry "$TMP/g4.out" rock scissors)" -v b="$(entry "$TMP/g4.out" scissors paper)" \
  -v c="$(entry "$TMP/g4.out" paper rock)" 'BEGIN { exit !(a > 2 && b > 2 && c > 2) }'
check "gpm: metadata" test "$(meta "$TMP/g4.out" k)/$(meta "$TMP/g4.out" restarts)/$(meta "$TMP/g4.out" model)" = 2/3/gpm

# ------------------------------------------------------------- error paths
code() { "$PREFSIM" fit "$@" >"$TMP/err.out" 2>"$TMP/err.txt"; echo $?; }
check "--help lists the models" bash -c "'$PREFSIM' fit --help | grep -A3 '^models' | grep -q 'gpm, minimax'"
check "--model minimax --help: its output and hyperparameters" \
  bash -c "'$PREFSIM' fit --model minimax --help | grep -q 'condorcet_winner' && '$PREFSIM' fit --model minimax --help | grep -q '^  method '"
check "unknown model: exit 2, names the models" \
  test "$(code --model nosuch "$TMP/rps.csv")" = 2 -a -n "$(grep -F 'allowed: bt,' "$TMP/err.txt" | grep -F 'gpm, minimax')"
check "--k with bt: exit 2" test "$(code --model bt --k 2 "$TMP/o12.csv")" = 2
check "--reference with minimax: exit 2" test "$(code --model minimax --reference x0 "$TMP/o12.csv")" = 2
check "--no-se with gpm: exit 2" test "$(code --model gpm --no-se "$TMP/o12.csv")" = 2
check "--l2 with minimax: exit 2" test "$(code --model minimax --l2 1 "$TMP/o12.csv")" = 2
check "--k 0: exit 2" test "$(code --model gpm --k 0 "$TMP/o12.csv")" = 2
check "--tau -1: exit 2" test "$(code --model gpm --tau -1 "$TMP/o12.csv")" = 2
check "--tau -1: the table's range in the message" grep -qF -- "--tau -1: -1 is out of range; allowed: a real number in [1e-06," "$TMP/err.txt"
check "--seed abc: exit 2" test "$(code --model gpm --seed abc "$TMP/o12.csv")" = 2
check "--seed -1: exit 2" test "$(code --model gpm --seed -1 "$TMP/o12.csv")" = 2
check "unreadable file: exit 5" test "$(code --model minimax "$TMP/nope.csv")" = 5
printf 'winner,loser\na,a\n' >"$TMP/self.csv"
check "winner = loser: exit 3" test "$(code --model minimax "$TMP/self.csv")" = 3
# --lr is gpm's lr hyperparameter, checked with its table (at most 10), so a huge step no
# longer reaches the fit; counts near DBL_MAX no longer reach it either (the count ceiling)
check "--lr 1e300 outside gpm's range: exit 2" test "$(code --model gpm --lr 1e300 "$TMP/o12.csv")" = 2
printf 'winner,loser,count\nx0,x1,1e308\nx1,x0,1e308\nx1,x2,1e308\nx2,x0,1e308\n' >"$TMP/huge.csv"
check "gpm with counts near DBL_MAX: exit 3 (above the count ceiling), nothing printed" \
  bash -c "test \"\$('$PREFSIM' fit --model gpm '$TMP/huge.csv' >'$TMP/err.out' 2>'$TMP/err.txt'; echo \$?)\" = 3 && test ! -s '$TMP/err.out' && grep -q 'huge.csv:2: count .1e308. (column 3) is above the ceiling' '$TMP/err.txt'"
check "minimax method=hedge: exit 0, value NA, status ok" \
  bash -c "test \"\$('$PREFSIM' fit --model minimax --param method=hedge '$TMP/o12.csv' >'$TMP/h.out' 2>&1; echo \$?)\" = 0 && grep -qx '# value	NA' '$TMP/h.out' && grep -qx '# status	ok' '$TMP/h.out'"
check "minimax method=hedge-last (the last iterate cycles): exit 6, value NA, status not-converged" \
  bash -c "test \"\$('$PREFSIM' fit --model minimax --param method=hedge-last '$TMP/o12.csv' >'$TMP/hl.out' 2>/dev/null; echo \$?)\" = 6 && grep -qx '# value	NA' '$TMP/hl.out' && grep -qx '# method	hedge-last' '$TMP/hl.out' && grep -qx '# status	not-converged' '$TMP/hl.out'"

finish
