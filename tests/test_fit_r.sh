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
# Firth (`prefsim fit --model bt --firth`) against BTm(..., br = TRUE), i.e. brglm's
# bias reduction, which for the logit link is the Jeffreys-prior penalised MLE
# (br.epsilon 1e-11, glm epsilon 1e-14), on citations, baseball, icehockey and four
# data sets with no MLE: tests/data/never_loses.csv (an item never loses),
# tests/data/not_strongly_connected.csv, and three written by R (a two-group cut
# where one group always wins, a chain a>b>c>d with no reversals, and a>c 50 times,
# a>b, b>c, whose Firth root is a saddle of the penalised likelihood: SEs NaN in R,
# NA with exit 6 here).  Scores on both
# scales to 1e-6; SEs to 1e-6 against the inverse of the penalised Hessian, which R
# computes here independently: central differences (step 1e-5) of the modified
# score X'(y - n p + h (1/2 - p)), h the hat values, written in R (brglm's own SEs
# are I^-1 at the estimate, a different quantity; their distance is printed).
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

# ---- Firth: BTm(br = TRUE) scores; SEs from the penalised Hessian computed here
# from R's own modified score (not brglm's code), central differences, symmetrised.
# y successes of player1 over n games; writes NAME.firth.expected.tsv, .reference.
emit_firth <- function(name, p1, p2, y, n, id) {
  lev <- levels(p1)
  K <- length(lev)
  d <- data.frame(p1 = p1, p2 = p2, y = y, f = n - y)
  m <- suppressWarnings(BTm(cbind(y, f), p1, p2, id = id, data = d, br = TRUE, br.epsilon = 1e-11,
                            br.maxit = 500, epsilon = 1e-14, maxit = 100))
  cn <- paste0(id, lev[-1])
  beta <- coef(m)[cn]
  stopifnot(all(is.finite(beta)))
  X <- matrix(0, nrow(d), K)
  X[cbind(seq_len(nrow(d)), as.integer(p1))] <- 1
  X[cbind(seq_len(nrow(d)), as.integer(p2))] <- -1
  X <- X[, -1, drop = FALSE]
  U <- function(b) {
    p <- plogis(drop(X %*% b))
    w <- n * p * (1 - p)
    h <- w * rowSums((X %*% solve(crossprod(X * sqrt(w)))) * X)
    drop(crossprod(X, y - n * p + h * (0.5 - p)))
  }
  J <- sapply(seq_along(beta), function(k) {
    e <- 1e-5 * max(1, abs(beta[k]))
    bp <- bm <- beta
    bp[k] <- bp[k] + e
    bm[k] <- bm[k] - e
    -(U(bp) - U(bm)) / (2 * e)
  })
  V <- matrix(0, K, K)
  V[-1, -1] <- solve((J + t(J)) / 2)
  # an indefinite penalised Hessian (a saddle root): no SEs (NaN; prefsim prints NA)
  if (inherits(try(chol((J + t(J)) / 2), silent = TRUE), "try-error")) V[] <- NaN
  ab <- c(0, beta)
  P <- diag(K) - 1 / K
  res <- data.frame(item = lev, ref_score = ab, ref_se = sqrt(diag(V)), c_score = ab - mean(ab),
                    c_se = sqrt(diag(P %*% V %*% P)))
  write.table(format(res, digits = 15), file.path(out, paste0(name, ".firth.expected.tsv")), sep = "\t",
              quote = FALSE, row.names = FALSE, fileEncoding = "UTF-8")
  writeLines(lev[1], file.path(out, paste0(name, ".firth.reference")))
  brse <- sqrt(diag(vcov(m)))[cn]
  cat(sprintf("firth %s: brglm %d iterations, max |modified score| %.2g at its estimate, max |brglm se - penalised-Hessian se| %.3g\n",
              name, m$nIter, max(abs(U(beta))), max(abs(brse - sqrt(diag(V))[-1]))))
}
# a CSV of winner,loser[,count] rows as binomial rows (player1 = winner, all won)
emit_firth_csv <- function(name, path) {
  df <- read.csv(path, stringsAsFactors = FALSE)
  if (is.null(df$count)) df$count <- 1
  lev <- unique(as.vector(rbind(df$winner, df$loser)))
  emit_firth(name, factor(df$winner, levels = lev), factor(df$loser, levels = lev), df$count, df$count, "item")
}
emit_firth("citations", cs$player1, cs$player2, cs$win1, cs$win1 + cs$win2, "journal")
emit_firth("baseball", b$home.team, b$away.team, b$home.wins, b$home.wins + b$away.wins, "team")
emit_firth("icehockey", h$visitor, h$opponent, h$result, rep(1, nrow(h)), "team")
data_dir <- commandArgs(TRUE)[2]
emit_firth_csv("never_loses", file.path(data_dir, "never_loses.csv"))
emit_firth_csv("not_strongly_connected", file.path(data_dir, "not_strongly_connected.csv"))
# {A, B, C} beat {D, E, F} every time (no MLE), both directions inside each group
cut <- data.frame(winner = c("A", "B", "A", "C", "B", "C", "A", "B", "C", "D", "E", "D", "E", "F", "D"),
                  loser  = c("B", "A", "C", "A", "C", "B", "F", "E", "D", "E", "D", "F", "F", "E", "F"),
                  count  = c(3, 1, 2, 1, 1, 2, 1, 2, 4, 2, 2, 1, 3, 1, 1))
write.csv(cut, file.path(out, "cut.csv"), row.names = FALSE)
emit_firth_csv("cut", file.path(out, "cut.csv"))
# a > c 50 times, a > b, b > c: the root of the modified score (b midway, by the
# symmetry of the data) is a saddle of the penalised likelihood, so its Hessian is
# indefinite: R's SEs are NaN, prefsim's NA (exit 6, status singular)
saddle <- data.frame(winner = c("a", "a", "b"), loser = c("c", "b", "c"), count = c(50, 1, 1))
write.csv(saddle, file.path(out, "saddle.csv"), row.names = FALSE)
emit_firth_csv("saddle", file.path(out, "saddle.csv"))
# a chain a > b > c > d, no reversals: a tree, so each gap is log((n + 1/2) / (1/2))
chain <- data.frame(winner = c("a", "b", "c"), loser = c("b", "c", "d"), count = c(5, 2, 9))
write.csv(chain, file.path(out, "chain.csv"), row.names = FALSE)
emit_firth_csv("chain", file.path(out, "chain.csv"))
EOF

if ! Rscript "$TMP/reference.R" "$TMP" "$DATA" > "$TMP/r.log" 2>&1; then
  ko "R reference fits (Rscript with BradleyTerry2): $(tail -3 "$TMP/r.log" | tr '\n' ' ')"
  finish
fi
ok "R BradleyTerry2 reference fits for citations, baseball, icehockey (and Firth: br = TRUE, 8 data sets)"
grep '^firth ' "$TMP/r.log"

# compare EXPECTED GOT SCORECOL SECOL: prints "matched total max_dscore max_dse bad"
compare() {
  awk -F'\t' -v sc="$3" -v sec="$4" -v tol="$TOL" '
    function abs(x) { return x < 0 ? -x : x }
    function bound(x) { return tol * (abs(x) > 1 ? abs(x) : 1) }
    FNR == NR { if (FNR > 1) { es[$1] = $sc; ese[$1] = $sec; n++ } next }
    /^#/ || FNR == 1 { next }
    ($1 in es) {
      seen[$1] = 1; matched++
      ds = abs($2 - es[$1])
      if (ds > mds) mds = ds
      if (ese[$1] == "NaN") {  # R could not compute it: prefsim must print NA
        if ($3 != "NA" || ds > bound(es[$1])) bad++
        next
      }
      dse = abs($3 - ese[$1])
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

# Firth: --firth against BTm(br = TRUE), both scales; the data sets without an MLE
# first exit 4 without --firth
for name in citations baseball icehockey never_loses not_strongly_connected cut chain saddle; do
  csv=$TMP/$name.csv
  [ -f "$csv" ] || csv=$DATA/$name.csv
  ref=$(cat "$TMP/$name.firth.reference")
  case $name in
    citations|baseball|icehockey) ;;
    *)
      "$PREFSIM" fit --model bt "$csv" > "$TMP/out" 2> "$TMP/err"
      rc=$?
      if [ $rc -eq 4 ]; then ok "firth $name: without --firth no MLE (exit 4)"
      else ko "firth $name: without --firth exit $rc, want 4 (no MLE): $(head -c 200 "$TMP/err")"; fi ;;
  esac
  for scale in reference centred; do
    if [ "$scale" = reference ]; then
      args=(--reference "$ref")
      cols=(2 3)
    else
      args=()
      cols=(4 5)
    fi
    "$PREFSIM" fit --model bt --firth "$csv" "${args[@]}" > "$TMP/$name.firth.$scale.out" 2> "$TMP/$name.err"
    rc=$?
    want_rc=0 want_status=ok
    if [ "$name" = saddle ]; then
      want_rc=6 want_status=singular
      grep -q "not positive definite at the Firth estimate.*saddle" "$TMP/$name.err" ||
        ko "firth saddle ($scale): stderr does not explain the NA SEs: $(head -c 300 "$TMP/$name.err")"
    fi
    if [ $rc -ne $want_rc ]; then
      ko "firth $name ($scale): prefsim exited $rc: $(head -c 300 "$TMP/$name.err")"
      continue
    fi
    read -r matched total mds mdse bad <<< "$(compare "$TMP/$name.firth.expected.tsv" "$TMP/$name.firth.$scale.out" "${cols[@]}")"
    rows=$(grep -vc '^#' "$TMP/$name.firth.$scale.out")
    msg="firth $name ($scale scale, $total items): max |score diff| $mds, max |se diff| $mdse"
    if [ "$matched" -eq "$total" ] && [ "$rows" -eq $((total + 1)) ] && [ "$bad" -eq 0 ] &&
       grep -q "^# status	$want_status\$" "$TMP/$name.firth.$scale.out" &&
       grep -q '^# firth	yes$' "$TMP/$name.firth.$scale.out"; then
      ok "$msg"
    else
      ko "$msg ($matched of $total items matched by name, $rows table lines, $bad beyond tolerance)"
    fi
  done
done
# the chain is a tree: each gap is the two-item closed form log((n + 1/2) / (1/2))
if awk -F'\t' '
     function abs(x) { return x < 0 ? -x : x }
     /^#/ || NR == 1 { next }
     { s[$1] = $2 }
     END { e = abs(s["a"] - s["b"] - log(11)) + abs(s["b"] - s["c"] - log(5)) + abs(s["c"] - s["d"] - log(19))
           exit !(e < 3e-9) }' "$TMP/chain.firth.centred.out"; then
  ok "firth chain: gaps log(5.5/0.5), log(2.5/0.5), log(9.5/0.5) (two-item closed form on a tree)"
else
  ko "firth chain: gaps are not the closed form: $(grep -v '^#' "$TMP/chain.firth.centred.out" | tr '\n' ' ')"
fi
# --firth is --param firth=true (same bytes); a disconnected graph has no Firth estimate
"$PREFSIM" fit --model bt --param firth=true "$DATA/never_loses.csv" > "$TMP/param.out" 2>&1
if cmp -s "$TMP/param.out" "$TMP/never_loses.firth.centred.out"; then
  ok "--param firth=true gives the bytes of --firth"
else
  ko "--param firth=true differs from --firth"
fi

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
expect_fail "firth on a disconnected graph" 4 "no Firth estimate: the comparison graph is disconnected.*whatever --l2" \
  fit --model bt --firth "$DATA/disconnected.csv"
expect_fail "firth with probit" 2 "firth = true needs link = logistic" \
  fit --model bt --firth --param link=probit "$DATA/small.csv"
expect_fail "--firth against --param firth=false" 2 "\-\-firth contradicts --param firth=false" \
  fit --model bt --firth --param firth=false "$DATA/small.csv"
expect_fail "--firth with another model" 2 "\-\-firth applies to --model bt only" \
  fit --model mm --firth "$DATA/small.csv"
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
