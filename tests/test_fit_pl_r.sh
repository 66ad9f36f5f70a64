#!/usr/bin/env bash
# test_fit_pl_r.sh — `prefsim fit --model pl` against R's survival::clogit (the
# exploded logit: one stratum per choice stage, the chosen item the event) on a
# public ranking data set, plus the ranking CLI's error paths.
#
# Data: psychotools' GermanParties2009 (Debian r-cran-psychotools): 192 respondents'
# paired comparisons of 6 options (none, Linke, Gruene, SPD, CDU/CSU, FDP), derived
# from rankings; the 160 respondents whose 15 comparisons form a full ranking
# (the rest are intransitive) give the rankings, converted to CSV by R:
#   parties_full          160 full rankings of 6 (a>b>...);
#   parties_top3          their top 3 with the set of all 6 (a `set` column);
#   parties_top1_counts   top-1 choices from the set, identical rows aggregated
#                         into a count column (set listed in another order);
#   parties_full_counts   the full rankings aggregated into counts.
# Reference: clogit(event ~ item dummies + strata(stage), eps 1e-14) on the
# unaggregated exploded rows, reference item 'none' (coefficient 0); centred scale:
# the coefficients minus their mean, SEs sqrt(diag(P V P)), P = I - 11^T/6;
# loglik: fit$loglik[2], the partial likelihood = PL's, no combinatorial constant.
# Tolerances (issue 15): |score - R| <= 1e-6, |se - R| <= 1e-4 |R|, |loglik - R| <= 1e-6.
#
# Also: on a pair CSV, --model pl equals --model bt (rankings of 2 are BT) to 1e-9;
# --model bt on rankings needs --breaking (exit 2, naming the choice); --breaking on
# pairs, a bad --breaking value (exit 2); another model on rankings (exit 3); the CSV
# errors (exit 3, FILE:LINE and the column); no MLE (exit 4).
#
# Usage: PREFSIM=path/to/prefsim bash tests/test_fit_pl_r.sh   (default ./prefsim)
set -u
PREFSIM=${PREFSIM:-./prefsim}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-fit-pl-r-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export LC_ALL=C.UTF-8
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

cat > "$TMP/reference.R" <<'RSCRIPT'
suppressMessages({library(psychotools); library(survival)})
out <- commandArgs(TRUE)[1]
data(GermanParties2009)
pc <- GermanParties2009$preference
M <- as.matrix(pc)          # +1: the first of the column's pair preferred
lab <- labels(pc)
pairs <- do.call(rbind, strsplit(colnames(M), ":"))
pi <- match(pairs[, 1], lab); pj <- match(pairs[, 2], lab)
wins <- t(apply(M, 1, function(x) tabulate(ifelse(x > 0, pi, pj), 6)))
full <- apply(wins, 1, function(v) all(sort(v) == 0:5))
ord <- t(apply(wins[full, ], 1, function(v) order(-v)))  # item indices, best first
stopifnot(nrow(ord) == 160)

emit <- function(name, k, aggregate) {
  rows <- list(); sid <- 0
  for (r in seq_len(nrow(ord))) for (t in seq_len(min(k, 5))) {
    sid <- sid + 1
    rest <- ord[r, t:6]
    rows[[sid]] <- data.frame(stratum = sid, item = rest, event = as.integer(seq_along(rest) == 1))
  }
  ex <- do.call(rbind, rows)
  X <- outer(ex$item, 2:6, "==") * 1
  fit <- suppressWarnings(clogit(ex$event ~ X + strata(ex$stratum),
                                 control = coxph.control(eps = 1e-14, iter.max = 100)))
  b <- c(0, unname(coef(fit)))
  V <- matrix(0, 6, 6); V[-1, -1] <- vcov(fit)
  P <- diag(6) - 1 / 6
  res <- data.frame(item = lab, ref_score = b, ref_se = sqrt(diag(V)), c_score = b - mean(b),
                    c_se = sqrt(diag(P %*% V %*% P)))
  write.table(format(res, digits = 15), file.path(out, paste0(name, ".expected.tsv")), sep = "\t",
              quote = FALSE, row.names = FALSE)
  writeLines(format(fit$loglik[2], digits = 15), file.path(out, paste0(name, ".loglik")))
  df <- data.frame(ranking = apply(ord, 1, function(o) paste(lab[o[1:k]], collapse = ">")))
  if (k < 6) df$set <- paste(lab, collapse = "|")
  if (aggregate) {
    tb <- table(df$ranking)
    df <- data.frame(count = as.vector(tb), ranking = names(tb))
    if (k < 6) df$set <- paste(rev(lab), collapse = "|")
  }
  write.csv(df, file.path(out, paste0(name, ".csv")), row.names = FALSE)
}
emit("parties_full", 6, FALSE)
emit("parties_top3", 3, FALSE)
emit("parties_top1_counts", 1, TRUE)
emit("parties_full_counts", 6, TRUE)
RSCRIPT
if ! Rscript "$TMP/reference.R" "$TMP" > "$TMP/r.log" 2>&1; then
  ko "R reference fits (survival::clogit on psychotools' GermanParties2009): $(tail -3 "$TMP/r.log")"
  finish
fi

# compare OUT (prefsim) with EXPECTED columns (score col, se col) and the loglik
compare() { # name scale-label outfile score_col se_col loglik_file
  /usr/bin/python3 - "$@" <<'PY'
import sys
name, label, out, sc, ec, llf = sys.argv[1:7]
exp = {}
with open(out.rsplit("/", 1)[0] + "/" + name + ".expected.tsv") as f:
    hdr = f.readline().split("\t")
    hdr = [h.strip() for h in hdr]
    for line in f:
        v = line.rstrip("\n").split("\t")
        exp[v[0].strip()] = (float(v[hdr.index(sc)]), float(v[hdr.index(ec)]))
got, ll = {}, None
with open(out) as f:
    f.readline()
    for line in f:
        v = line.rstrip("\n").split("\t")
        if v[0] == "# loglik": ll = float(v[1])
        elif not v[0].startswith("#"): got[v[0]] = (float(v[1]), float(v[2]))
worst_s = max(abs(got[k][0] - exp[k][0]) for k in exp)
worst_e = max(abs(got[k][1] - exp[k][1]) / exp[k][1] for k in exp if exp[k][1] > 0)
rll = float(open(llf).read())
ok = set(got) == set(exp) and worst_s <= 1e-6 and worst_e <= 1e-4 and abs(ll - rll) <= 1e-6
print("%s %s %s: max |score - R| %.2g (tol 1e-6), max rel |se - R| %.2g (tol 1e-4), |loglik - R| %.2g (tol 1e-6)"
      % ("PASS" if ok else "FAIL", name, label, worst_s, worst_e, abs(ll - rll)))
sys.exit(0 if ok else 1)
PY
}
for name in parties_full parties_top3 parties_top1_counts parties_full_counts; do
  for scale in reference centred; do
    if [ $scale = reference ]; then args=(--reference none); sc=ref_score; ec=ref_se; else args=(); sc=c_score; ec=c_se; fi
    if "$PREFSIM" fit --model pl "${args[@]}" "$TMP/$name.csv" > "$TMP/$name.$scale.out" 2> "$TMP/err"; then
      if line=$(compare "$name" "$scale" "$TMP/$name.$scale.out" "$sc" "$ec" "$TMP/$name.loglik"); then
        ok "${line#PASS }"
      else
        ko "${line#FAIL }"
      fi
    else
      ko "$name $scale: prefsim fit failed: $(cat "$TMP/err")"
    fi
  done
done

# rankings of 2 are Bradley-Terry: pl and bt on a pair CSV
"$PREFSIM" fit --model pl "$HERE/data/small.csv" > "$TMP/pl.out" 2>&1
"$PREFSIM" fit --model bt "$HERE/data/small.csv" > "$TMP/bt.out" 2>&1
if /usr/bin/python3 - "$TMP/pl.out" "$TMP/bt.out" <<'PY'
import sys
def rd(p):
    rows, ll = {}, None
    for line in open(p):
        v = line.rstrip("\n").split("\t")
        if v[0] == "# loglik": ll = float(v[1])
        elif not v[0].startswith("#") and v[0] != "item": rows[v[0]] = (float(v[1]), float(v[2]))
    return rows, ll
a, la = rd(sys.argv[1]); b, lb = rd(sys.argv[2])
d = max(max(abs(a[k][0] - b[k][0]), abs(a[k][1] - b[k][1])) for k in b)
sys.exit(0 if set(a) == set(b) and d <= 1e-9 and abs(la - lb) <= 1e-9 else 1)
PY
then ok "pairs: --model pl = --model bt (scores, SEs, loglik to 1e-9)"; else ko "pairs: --model pl differs from --model bt"; fi

# error paths: expect STATUS NEEDLE -- command...
expect() {
  local want=$1 needle=$2
  shift 2
  "$@" > "$TMP/o" 2> "$TMP/e"
  local got=$?
  if [ "$got" -eq "$want" ] && grep -qF -- "$needle" "$TMP/e"; then
    ok "exit $want: $needle"
  else
    ko "expected exit $want and '$needle'; got $got: $(head -2 "$TMP/e")"
  fi
}
R=$TMP/parties_full.csv
expect 2 "needs --breaking full" "$PREFSIM" fit --model bt "$R"
expect 2 "--breaking must be full or adjacent, not 'all'" "$PREFSIM" fit --model bt --breaking all "$R"
expect 2 "--breaking applies to rankings" "$PREFSIM" fit --model bt --breaking full "$HERE/data/small.csv"
expect 2 "--breaking applies to --model bt only" "$PREFSIM" fit --model pl --breaking full "$R"
expect 3 "fit them with --model pl or dpo_listwise, or --model bt --breaking full|adjacent" "$PREFSIM" fit --model mm "$R"
# listwise DPO on the rankings: the policy offset is PL's centred scores over beta (docs/theory.md §3.18)
"$PREFSIM" fit --model pl --no-se "$R" | grep -v '^#' | tail -n +2 | sort > "$TMP/pl_scores"
"$PREFSIM" fit --model dpo_listwise --param beta=0.5 "$R" | grep -v '^#' | tail -n +2 | sort > "$TMP/lw_scores"
if join "$TMP/pl_scores" "$TMP/lw_scores" | awk '{ d = $4 - 2 * $2; if (d < 0) d = -d; if (d > 1e-7) bad = 1; n++ }
    END { exit !(n == 6 && !bad) }'; then
  ok "dpo_listwise (beta 0.5) on rankings = 2 x pl's scores"
else
  ko "dpo_listwise (beta 0.5) is not 2 x pl's scores: $(join "$TMP/pl_scores" "$TMP/lw_scores" | head -3)"
fi
expect 3 "--reference 'nobody' is not among the 6 items" "$PREFSIM" fit --model pl --reference nobody "$R"
printf 'ranking\na>b>c\nb>a>a\n' > "$TMP/dup.csv"
expect 3 "dup.csv:3: ranking 'b>a>a' (column 1) repeats an item" "$PREFSIM" fit --model pl "$TMP/dup.csv"
printf 'count,ranking\n1,a>b\n2,\n' > "$TMP/empty.csv"
expect 3 "empty.csv:3: empty ranking (column 2)" "$PREFSIM" fit --model pl "$TMP/empty.csv"
printf 'ranking,set\na>b,a|b|c\nd>a,a|b|c\n' > "$TMP/outside.csv"
expect 3 "outside.csv:3: ranking 'd>a' (column 1) ranks an item outside its set 'a|b|c' (column 2)" \
  "$PREFSIM" fit --model pl "$TMP/outside.csv"
printf 'ranking\na>b\nc\n' > "$TMP/one.csv"
expect 3 "one.csv:3: ranking 'c' (column 1) has one item" "$PREFSIM" fit --model pl "$TMP/one.csv"
printf 'ranking\na>b>c\na>c>b\n' > "$TMP/nomle.csv"
expect 4 "no maximum-likelihood estimate" "$PREFSIM" fit --model pl "$TMP/nomle.csv"
# breaking runs and says so
if "$PREFSIM" fit --model bt --breaking adjacent "$R" > "$TMP/brk.out" 2>&1 && grep -q "^# breaking	adjacent (160 rankings" "$TMP/brk.out" &&
  grep -q "^# rows	800$" "$TMP/brk.out"; then
  ok "--model bt --breaking adjacent: 160 rankings of 6 -> 800 pairs"
else
  ko "--model bt --breaking adjacent: $(tail -3 "$TMP/brk.out")"
fi
if "$PREFSIM" fit --model bt --breaking full "$R" > "$TMP/brk.out" 2>&1 && grep -q "^# rows	2400$" "$TMP/brk.out"; then
  ok "--model bt --breaking full: 160 rankings of 6 -> 2400 pairs"
else
  ko "--model bt --breaking full: $(tail -3 "$TMP/brk.out")"
fi
finish
