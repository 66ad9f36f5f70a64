#!/usr/bin/env bash
# test_fit_annotators.sh — `prefsim fit` with an annotator column: noisybt, flipem,
# mixture (--k auto), idealpoint, lowrank on simulated crowdsourcing files with known
# structure (docs/theory.md §2.4-2.6, §3.3-3.6), and their error paths.
#
#   careless  40 items (BT scores ~ N(0, 1.5^2)), 60 annotators x 150 labels with the
#             first-shown item recorded; annotators 0-19 are careless (competence 0.55,
#             position bias q ~ N(0, 1)), the others careful (0.97).  NoisyBT must rank
#             them: at least 18 of the 20 lowest estimated competences are careless
#             (the unit tests measured 29/30 at 200 labels; each careless annotator's
#             competence is ~0.4 below a careful one's, ~6 standard errors at 150
#             labels, so more than 2 misranked would be a bug).  flipem: the careless
#             annotators' mean estimated flip rate exceeds the careful ones' by > 0.1
#             (true gap (0.97 - 0.55)/2 = 0.21, minus the bias they also carry).
#   opposite  15 items, 40 users x 60 comparisons, users 0-19 with reward r, 20-39 with
#             -r: --k auto (BIC over K = 1..6) must choose K = 2 and put each group in
#             one cluster (the per-comparison log-likelihood ratio between the two types
#             is ~2|r_a - r_b| >> 1, so 60 comparisons leave no doubt).
# Data come from numpy's default_rng with fixed seeds (deterministic on every machine).
#
# Usage: PREFSIM=path/to/prefsim bash tests/test_fit_annotators.sh   (default ./prefsim)
set -u
PREFSIM=${PREFSIM:-./prefsim}
PYTHON=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-fit-ann-XXXXXX")
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
meta() { awk -F'\t' -v k="# $2" '$1 == k { print $2; exit }' "$1"; }

"$PYTHON" - "$TMP" <<'PY'
import sys, numpy as np
tmp = sys.argv[1]
rng = np.random.default_rng(20261128)
m, H, per = 40, 60, 150
s = rng.normal(0, 1.5, m)
comp = np.where(np.arange(H) < 20, 0.55, 0.97)
bias = np.where(np.arange(H) < 20, rng.normal(0, 1, H), 0.0)
sig = lambda z: 1 / (1 + np.exp(-z))
with open(f"{tmp}/careless.csv", "w") as f:
    f.write("winner,loser,first,annotator\n")
    for h in range(H):
        for _ in range(per):
            a, b = rng.choice(m, 2, replace=False)
            p = comp[h] * sig(s[a] - s[b]) + (1 - comp[h]) * sig(bias[h])
            w, l = (a, b) if rng.random() < p else (b, a)
            f.write(f"item{w},item{l},item{a},ann{h}\n")
r = rng.normal(0, 1.5, 15)
with open(f"{tmp}/opposite.csv", "w") as f:
    f.write("annotator,winner,loser\n")
    for h in range(40):
        rh = r if h < 20 else -r
        for _ in range(60):
            a, b = rng.choice(15, 2, replace=False)
            w, l = (a, b) if rng.random() < sig(rh[a] - rh[b]) else (b, a)
            f.write(f"user{h},x{w},x{l}\n")
PY
check "test data generated" test -s "$TMP/careless.csv" -a -s "$TMP/opposite.csv"

# ---------------------------------------------------------------- noisybt
"$PREFSIM" fit --model noisybt "$TMP/careless.csv" --annotators "$TMP/nb_ann.tsv" >"$TMP/nb.out" 2>"$TMP/nb.err"
check "noisybt: exit 0" test $? -eq 0
check "noisybt: 40 items" test "$(awk -F'\t' 'NR > 1 && /^item/' "$TMP/nb.out" | wc -l)" -eq 40
check "noisybt: annotator table in --annotators FILE (header + 60 rows)" test "$(wc -l <"$TMP/nb_ann.tsv")" -eq 61
check "noisybt: columns" test "$(head -1 "$TMP/nb_ann.tsv")" = "$(printf 'annotator\tcompetence\tskill\tbias\tflip\tcomparisons')"
check "noisybt: # annotators 60" test "$(meta "$TMP/nb.out" annotators)" = 60
lowest=$(tail -n +2 "$TMP/nb_ann.tsv" | sort -t$'\t' -k2,2g | head -20 | awk -F'\t' '{ sub("ann", "", $1); if ($1 + 0 < 20) n++ } END { print n + 0 }')
check "noisybt: >= 18 of the 20 lowest competences are careless (got $lowest)" test "$lowest" -ge 18

# ----------------------------------------------------------------- flipem
"$PREFSIM" fit --model flipem "$TMP/careless.csv" >"$TMP/fe.out" 2>"$TMP/fe.err"
check "flipem: exit 0" test $? -eq 0
gap=$(awk -F'\t' '/^annotator\t/ { t = 1; next } t && /^ann/ { h = substr($1, 4) + 0; if (h < 20) { a += $3; na++ } else { b += $3; nb++ } }
  END { printf "%.4f", a / na - b / nb }' <(sed 's/^#| //' "$TMP/fe.out"))
check "flipem: careless flip rate exceeds careful by > 0.1 (got $gap)" awk -v g="$gap" 'BEGIN { exit !(g > 0.1) }'

# the annotator table is not in the item table's stream: commented out ("#| ") after it
check "flipem: stdout is one table for pandas (the annotator table commented out)" \
  "$PYTHON" -c "import sys, pandas as pd; t = pd.read_csv(sys.argv[1], sep='\t', comment='#'); sys.exit(not (list(t.columns) == ['item', 'score'] and len(t) == 40))" "$TMP/fe.out"

# ---------------------------------------------------------------- mixture
"$PREFSIM" fit --model mixture --k auto --seed 3 "$TMP/opposite.csv" >"$TMP/mx.out" 2>"$TMP/mx.err"
check "mixture --k auto: exit 0" test $? -eq 0
check "mixture --k auto: BIC chooses K = 2" test "$(grep -c '^# weight_' "$TMP/mx.out")" -eq 2
check "mixture: item table has score_1 and score_2" test "$(head -1 "$TMP/mx.out")" = "$(printf 'item\tscore\tscore_1\tscore_2')"
split=$(awk -F'\t' '/^annotator\t/ { t = 1; next } t && /^user/ { h = substr($1, 5) + 0; g = h < 20; c[g "," $2] = 1 }
  END { n0 = 0; n1 = 0; for (k in c) { split(k, p, ","); if (p[1] == 0) { n0++; c0 = p[2] } else { n1++; c1 = p[2] } }
        print (n0 == 1 && n1 == 1 && c0 != c1) ? "yes" : "no" }' <(sed 's/^#| //' "$TMP/mx.out"))
check "mixture: each group is one cluster, the two differ" test "$split" = yes
"$PREFSIM" fit --model mixture --k auto --seed 3 "$TMP/opposite.csv" >"$TMP/mx2.out" 2>/dev/null
check "mixture: the same seed gives the same output" cmp -s "$TMP/mx.out" "$TMP/mx2.out"

# ---------------------------------------------- idealpoint and lowrank
# a short budget: converged (status ok, exit 0) only at a tolerance it reaches (1e-3 x
# weight 2400 = 2.4 for idealpoint's gradient norm ~0.28; 1e-5 x 2400 for lowrank's ~0.004);
# at the default tolerance the same fits are not stationary: status not-converged, exit 6
"$PREFSIM" fit --model idealpoint --k 2 --param iterations=300 --param tol=1e-3 "$TMP/opposite.csv" >"$TMP/ip.out" 2>"$TMP/ip.err"
check "idealpoint: exit 0, status ok, top_prototype column" \
  bash -c "test $? -eq 0 && grep -q \$'^#| annotator\\ttop_prototype' '$TMP/ip.out' && grep -qx \$'# status\\tok' '$TMP/ip.out'"
"$PREFSIM" fit --model idealpoint --k 2 --param iterations=300 --param polish=50 "$TMP/opposite.csv" >"$TMP/ip2.out" 2>"$TMP/ip2.err"
check "idealpoint, default tolerance not met: exit 6, status not-converged, the table printed" \
  bash -c "test $? -eq 6 && grep -q \$'^#| annotator\\ttop_prototype' '$TMP/ip2.out' && grep -qx \$'# status\\tnot-converged' '$TMP/ip2.out' && grep -q 'not stationary' '$TMP/ip2.err'"
"$PREFSIM" fit --model lowrank --k 2 --param iterations=300 --param tol=1e-5 "$TMP/opposite.csv" >"$TMP/lr.out" 2>"$TMP/lr.err"
check "lowrank: exit 0, status ok, w_norm column" \
  bash -c "test $? -eq 0 && grep -q \$'^#| annotator\\tw_norm' '$TMP/lr.out' && grep -qx \$'# status\\tok' '$TMP/lr.out'"

# ------------------------------------------------------------ error paths
code() { "$PREFSIM" fit "$@" >"$TMP/err.out" 2>"$TMP/err.txt"; echo $?; }
check "--k auto with noisybt: exit 2" test "$(code --model noisybt --k auto "$TMP/careless.csv")" = 2
check "--param unknown key: exit 2" test "$(code --model flipem --param nosuch=1 "$TMP/careless.csv")" = 2
check "--param unknown key: the message names the allowed keys" grep -q "unknown hyperparameter of --model flipem; allowed: variant" "$TMP/err.txt"
check "--param out of range: exit 2" test "$(code --model mixture --param restarts=0 "$TMP/opposite.csv")" = 2
check "--param without =: exit 2" test "$(code --model mixture --param restarts "$TMP/opposite.csv")" = 2
check "--annotators with bt: exit 2" test "$(code --model bt --annotators "$TMP/x.tsv" "$TMP/careless.csv")" = 2
printf 'winner,loser,first,annotator\na,b,c,w\n' >"$TMP/badfirst.csv"
check "first neither winner nor loser: exit 3" test "$(code --model noisybt "$TMP/badfirst.csv")" = 3
check "--k larger than the users: exit 3 with a message" \
  bash -c "test \"\$('$PREFSIM' fit --model mixture --k 50 '$TMP/opposite.csv' >/dev/null 2>'$TMP/k50.txt'; echo \$?)\" = 3 && grep -q 'users' '$TMP/k50.txt'"

finish
