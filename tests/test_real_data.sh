#!/usr/bin/env bash
# test_real_data.sh — the statements of docs/real_data.md on the 2008-09 Premier League
# (R BradleyTerry2's data(football)): Davidson and BT with draws as half wins rank Man Utd
# first, BT without the draws Liverpool; BT's order equals the win-rate (Borda) order on
# all 20 clubs (a balanced double round robin, docs/theory.md §3.1); Liverpool lost no
# head-to-head pairing, so the minimax winner has exploitability 0 and there is no
# Condorcet winner; the regularised Nash equilibrium keeps Liverpool first within its
# exploitability bound.  Needs R with BradleyTerry2 (scripts/install-deps.sh).
# Usage: PREFSIM=path/to/prefsim bash tests/test_real_data.sh   (default ./prefsim)
set -u
PREFSIM=${PREFSIM:-./prefsim}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-real-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
val() { awk -F'\t' -v k="$2" '$1 == k { print $2 }' "$1"; }
top() { grep -v '^#' "$1" | tail -n +2 | sort -t"$(printf '\t')" -k2 -g -r | head -1 | cut -f1; }
order() { grep -v '^#' "$1" | tail -n +2 | sort -t"$(printf '\t')" -k2 -g -r | cut -f1; }

cd "$TMP" || exit 1
Rscript -e 'library(BradleyTerry2); data(football); f <- football[football$season == "2008-9", ];
  write.csv(data.frame(winner = ifelse(f$result >= 0, as.character(f$home), as.character(f$away)),
                       loser  = ifelse(f$result >= 0, as.character(f$away), as.character(f$home)),
                       tie    = as.integer(f$result == 0)),
            "pl0809.csv", row.names = FALSE, quote = FALSE)' >/dev/null 2>&1
check "R exported 380 matches, 97 draws" test "$(tail -n +2 pl0809.csv | wc -l)" = 380 -a \
  "$(awk -F, 'NR > 1 && $3 == 1' pl0809.csv | wc -l)" = 97
awk -F, 'NR == 1 { print "winner,loser,count"; next }
         $3 == 1 { print $1 "," $2 ",0.5"; print $2 "," $1 ",0.5"; next } { print $1 "," $2 ",1" }' \
  pl0809.csv >pl0809_half.csv
"$PREFSIM" fit --model davidson pl0809.csv >dav.txt 2>/dev/null
"$PREFSIM" fit --model bt --ties drop pl0809.csv >drop.txt 2>/dev/null
"$PREFSIM" fit --model bt --ties half pl0809.csv >half.txt 2>/dev/null
"$PREFSIM" fit --model bt pl0809_half.csv >halfcsv.txt 2>/dev/null
"$PREFSIM" fit --model borda pl0809_half.csv >borda.txt 2>/dev/null
"$PREFSIM" fit --model minimax pl0809_half.csv >mm.txt 2>/dev/null
"$PREFSIM" fit --model nash --tau 0.05 pl0809_half.csv >nash.txt 2>/dev/null
check "davidson: Man Utd first, status ok" test "$(top dav.txt)" = MnU -a "$(val dav.txt '# status')" = ok
check "davidson: log nu = -0.16 (ties rarer than at nu = 1)" \
  awk -v x="$(val dav.txt '# log_nu')" 'BEGIN { exit !(x > -0.17 && x < -0.15) }'
check "bt --ties drop: Liverpool first" test "$(top drop.txt)" = Liv
check "bt --ties half: Man Utd first" test "$(top half.txt)" = MnU
check "bt --ties half = bt on the half-win counts (scores to 1e-9)" \
  awk -F'\t' 'NR == FNR { if ($1 !~ /^#/ && FNR > 1) s[$1] = $2; next }
              $1 !~ /^#/ && FNR > 1 { d = $2 - s[$1]; if (d < 0) d = -d; if (d > 1e-9) bad = 1 } END { exit bad }' half.txt halfcsv.txt
check "BT's order equals the win-rate (Borda) order on all 20 clubs" \
  test "$(order half.txt | tr '\n' ' ')" = "$(order borda.txt | tr '\n' ' ')" -a "$(order half.txt | wc -l)" = 20
# Liverpool's head-to-head record: for every opponent, Liverpool's (half-)wins >= the opponent's
check "Liverpool lost no head-to-head pairing" \
  awk -F, 'NR > 1 { w[$1 "|" $2] += $3 } END {
             for (k in w) { split(k, p, "|"); if (p[2] == "Liv" && w[k] > w["Liv|" p[1]] + 1e-12) exit 1 } }' pl0809_half.csv
check "minimax: exploitability 0, no Condorcet winner" \
  test "$(val mm.txt '# exploitability')" = 0 -a "$(val mm.txt '# condorcet_winner')" = NA
check "nash (tau 0.05): Liverpool first, exploitability within tau log 20" \
  awk -v t="$(top nash.txt)" -v x="$(val nash.txt '# exploitability')" 'BEGIN { exit !(t == "Liv" && x <= 0.05 * log(20)) }'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
