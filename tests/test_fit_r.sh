#!/usr/bin/env bash
# test_fit_r.sh — `prefsim fit --model bt` against R's BradleyTerry2 on data sets
# shipped with it, plus the command's error paths.
#
# Data (converted to winner,loser,count CSV by R, in a temporary directory):
#   citations  Stigler's 4x4 journal citation matrix (countsToBinomial), journals
#              renamed to names that need quoting: commas, "quotes", apostrophes,
#              UTF-8, surrounding spaces;
#   baseball   Agresti's 7 teams, 42 home/away series (wins as counts);
#   icehockey  58 college teams, 1083 games with ties scored 1/2 (fractional counts;
#              names with apostrophes and spaces; columns in another order plus
#              ignored columns).
# Reference: BTm (unpenalised, glm epsilon 1e-14), reference = first level;
# BTabilities gives abilities and SEs relative to it; the centred scale is
# abilities minus their mean with SEs sqrt(diag(P V P)), V = vcov embedded with a
# zero row/column for the reference, P = I - 11^T/K.
# Tolerance: |prefsim - R| <= 1e-6 * max(1, |R|) for every score and SE.
#
# Usage: PREFSIM=path/to/prefsim bash tests/test_fit_r.sh   (default ./prefsim)
# Prints one line per check, then "N passed, M failed"; exits 1 on any failure.
set -u
PREFSIM=${PREFSIM:-./prefsim}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA=$HERE/data
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-fit-r-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export LC_ALL=C.UTF-8
TOL=1e-6
pass=0
fail=0

ok() { echo "PASS $*"; pass=$((pass + 1)); }
ko() { echo "FAIL $*"; fail=$((fail + 1)); }

finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit $?
}

if [ ! -x "$PREFSIM" ]; then
  ko "prefsim binary '$PREFSIM' is not executable (set PREFSIM)"
  finish
fi

# ------------------------------------------------------------ R reference fits
cat > "$TMP/reference.R" <<'EOF'
suppressMessages(library(BradleyTerry2))
out <- commandArgs(TRUE)[1]
ctl <- glm.control(epsilon = 1e-14, maxit = 100)

# Write NAME.csv (the comparisons), NAME.expected.tsv and NAME.reference.
emit <- function(name, model, id, df) {
  write.csv(df, file.path(out, paste0(name, ".csv")), row.names = FALSE, fileEncoding = "UTF-8")
  ab <- BTabilities(model)
  lev <- rownames(ab)
  K <- length(lev)
  cn <- paste0(id, lev[-1])
  Vm <- vcov(model)
  stopifnot(all(cn %in% rownames(Vm)), ab[1, 1] == 0)
  V <- matrix(0, K, K)
  V[-1, -1] <- Vm[cn, cn]
  P <- diag(K) - 1 / K
  res <- data.frame(item = lev, ref_score = ab[, 1], ref_se = ab[, 2],
                    c_score = ab[, 1] - mean(ab[, 1]), c_se = sqrt(diag(P %*% V %*% P)))
  write.table(format(res, digits = 15), file.path(out, paste0(name, ".expected.tsv")), sep = "\t",
              quote = FALSE, row.names = FALSE, fileEncoding = "UTF-8")
  writeLines(lev[1], file.path(out, paste0(name, ".reference")))
}

# citations: [i, j] = times journal i is cited by journal j ("i beats j")
cs <- countsToBinomial(citations)
old <- levels(cs$player1)
new <- c("Biometrika, \"the\" journal", "Comm. Statist. \u00e9t\u00e9 \u2014 Th\u00e9orie",
         "J. Amer. Statist. Ass'n", "  JRSS-B (Royal Stat. Soc.)  ")
cs$player1 <- factor(cs$player1, levels = old, labels = new)
cs$player2 <- factor(cs$player2, levels = old, labels = new)
m <- BTm(cbind(win1, win2), player1, player2, id = "journal", data = cs, control = ctl)
df <- rbind(data.frame(winner = as.character(cs$player1), loser = as.character(cs$player2), count = cs$win1),
            data.frame(winner = as.character(cs$player2), loser = as.character(cs$player1), count = cs$win2))
emit("citations", m, "journal", df[df$count > 0, ])

# baseball: home/away series, wins of each side as counts
b <- baseball
m <- BTm(cbind(home.wins, away.wins), home.team, away.team, id = "team", data = b, control = ctl)
df <- rbind(data.frame(winner = as.character(b$home.team), loser = as.character(b$away.team), count = b$home.wins),
            data.frame(winner = as.character(b$away.team), loser = as.character(b$home.team), count = b$away.wins))
emit("baseball", m, "team", df[df$count > 0, ])

# icehockey: result 1 / 0.5 / 0 for the visitor; a tie is half a win each way
h <- icehockey
m <- suppressWarnings(BTm(result, visitor, opponent, id = "team", data = h, control = ctl))
df <- rbind(data.frame(date = h$date, loser = as.character(h$opponent), count = h$result,
                       winner = as.character(h$visitor), conference = h$conference),
            data.frame(date = h$date, loser = as.character(h$visitor), count = 1 - h$result,
                       winner = as.character(h$opponent), conference = h$conference))
emit("icehockey", m, "team", df[df$count > 0, ])
EOF

if ! Rscript "$TMP/reference.R" "$TMP" > "$TMP/r.log" 2>&1; then
  ko "R reference fits (Rscript with BradleyTerry2): $(tail -3 "$TMP/r.log" | tr '\n' ' ')"
  finish
fi
ok "R BradleyTerry2 reference fits for citations, baseball, icehockey"

# compare EXPECTED GOT SCORECOL SECOL: prints "matched total max_dscore max_dse bad"
compare() {
  awk -F'\t' -v sc="$3" -v sec="$4" -v tol="$TOL" '
    function abs(x) { return x < 0 ? -x : x }
    function bound(x) { return tol * (abs(x) > 1 ? abs(x) : 1) }
    FNR == NR { if (FNR > 1) { es[$1] = $sc; ese[$1] = $sec; n++ } next }
    /^#/ || FNR == 1 { next }
    ($1 in es) {
      seen[$1] = 1; matched++
      ds = abs($2 - es[$1]); dse = abs($3 - ese[$1])
      if (ds > mds) mds = ds
      if (dse > mdse) mdse = dse
      if (ds > bound(es[$1]) || dse > bound(ese[$1]) || $3 == "NA") bad++
    }
    END { printf "%d %d %.2g %.2g %d\n", matched, n, mds, mdse, bad + 0 }
  ' "$1" "$2"
}

for name in citations baseball icehockey; do
  csv=$TMP/$name.csv
  ref=$(cat "$TMP/$name.reference")
  for scale in reference centred; do
    if [ "$scale" = reference ]; then
      args=(--reference "$ref")
      cols=(2 3)
    else
      args=()
      cols=(4 5)
    fi
    "$PREFSIM" fit --model bt "$csv" "${args[@]}" > "$TMP/$name.$scale.out" 2> "$TMP/$name.err"
    rc=$?
    if [ $rc -ne 0 ]; then
      ko "$name ($scale): prefsim exited $rc: $(head -c 300 "$TMP/$name.err")"
      continue
    fi
    read -r matched total mds mdse bad <<< "$(compare "$TMP/$name.expected.tsv" "$TMP/$name.$scale.out" "${cols[@]}")"
    rows=$(grep -vc '^#' "$TMP/$name.$scale.out")
    msg="$name ($scale scale, $total items): max |score diff| $mds, max |se diff| $mdse"
    if [ "$matched" -eq "$total" ] && [ "$rows" -eq $((total + 1)) ] && [ "$bad" -eq 0 ] &&
       grep -q '^# status	ok$' "$TMP/$name.$scale.out"; then
      ok "$msg"
    else
      ko "$msg ($matched of $total items matched by name, $rows table lines, $bad beyond tolerance)"
    fi
  done
done

# citations: names with commas, quotes, UTF-8 and surrounding spaces come back
# byte for byte
if cut -f1 "$TMP/citations.reference.out" | grep -qxF "  JRSS-B (Royal Stat. Soc.)  " &&
   cut -f1 "$TMP/citations.reference.out" | grep -qxF 'Biometrika, "the" journal'; then
  ok "citations: quoted names with commas, quotes, UTF-8 and spaces round-trip"
else
  ko "citations: quoted names did not round-trip"
fi

# ------------------------------------------------------------ error paths
# expect_fail LABEL EXPECTED_RC PATTERN ARGS...: exit status and a message on stderr
expect_fail() {
  local label=$1 want=$2 pattern=$3
  shift 3
  "$PREFSIM" "$@" > "$TMP/out" 2> "$TMP/err"
  local rc=$?
  local first
  first=$(head -1 "$TMP/err")
  if [ $rc -eq "$want" ] && tr '\n' ' ' < "$TMP/err" | grep -q -- "$pattern"; then
    ok "$label: exit $rc, \"$first\""
  else
    ko "$label: exit $rc (want $want), stderr \"$(head -c 300 "$TMP/err")\" (want /$pattern/)"
  fi
}

expect_fail "missing column" 3 "missing_column.csv:1: the header has no 'loser' column.*'winner', 'looser'" \
  fit --model bt "$DATA/missing_column.csv"
expect_fail "empty file" 3 "empty.csv: the file is empty" fit --model bt "$DATA/empty.csv"
expect_fail "header only" 3 "header_only.csv:1: .*no.* data rows" fit --model bt "$DATA/header_only.csv"
expect_fail "one item only" 3 "one_item.csv:2: winner and loser are the same item 'a'" \
  fit --model bt "$DATA/one_item.csv"
expect_fail "non-numeric count" 3 "bad_count.csv:3: count 'three' (column 3) is not a plain decimal number" \
  fit --model bt "$DATA/bad_count.csv"
expect_fail "zero count" 3 "zero_count.csv:3: count '0' (column 3) is not positive" fit --model bt "$DATA/zero_count.csv"
expect_fail "wrong number of fields" 3 "wrong_fields.csv:3: 3 fields, but the header" \
  fit --model bt "$DATA/wrong_fields.csv"
expect_fail "unterminated quote" 3 "unterminated.csv:3: unterminated quoted field" \
  fit --model bt "$DATA/unterminated.csv"
expect_fail "unreadable file" 5 "no_such.csv: cannot open" fit --model bt "$DATA/no_such.csv"
expect_fail "disconnected graph" 4 "disconnected.*--l2" fit --model bt "$DATA/disconnected.csv"
expect_fail "item never loses" 4 "item 'a' never loses.*--l2" fit --model bt "$DATA/never_loses.csv"
expect_fail "not strongly connected" 4 "not strongly connected.*--l2" fit --model bt "$DATA/not_strongly_connected.csv"
expect_fail "unknown model" 2 "unknown model 'plackett' (allowed: bt, .*gpm, minimax, .*lowrank" fit --model plackett "$DATA/small.csv"
expect_fail "missing model" 2 "missing --model" fit "$DATA/small.csv"
expect_fail "negative --l2" 2 "\-\-l2 -0.5: -0.5 is out of range; allowed: a real number in \[0, " \
  fit --model bt "$DATA/small.csv" --l2 -0.5
expect_fail "non-numeric --l2" 2 "\-\-l2 abc: 'abc' is not a finite number; allowed: a real number in \[0, " \
  fit --model bt "$DATA/small.csv" --l2 abc
expect_fail "unknown bt hyperparameter" 2 "\-\-param l1: unknown hyperparameter of --model bt; allowed: l2, link, tol, max_iter" \
  fit --model bt "$DATA/small.csv" --param l1=2
expect_fail "unknown reference" 3 "'Z' is not among the 3 items.*'A', 'B', 'C'" \
  fit --model bt "$DATA/small.csv" --reference Z

# --l2 makes the disconnected graph fittable (finite scores; equal by symmetry)
if "$PREFSIM" fit --model bt "$DATA/disconnected.csv" --l2 0.1 > "$TMP/out" 2> "$TMP/err" &&
   awk -F'\t' '!/^#/ && NR > 1 { if ($2 + 0 != 0) bad = 1 } END { exit bad }' "$TMP/out"; then
  ok "disconnected graph with --l2 0.1: exit 0, finite scores"
else
  ko "disconnected graph with --l2 0.1: $(head -c 300 "$TMP/err")"
fi

# --help lists the exit statuses
if "$PREFSIM" fit --help > "$TMP/out" 2>&1 && grep -q "4 no maximum-likelihood estimate" "$TMP/out"; then
  ok "fit --help documents the exit statuses"
else
  ko "fit --help"
fi

finish
