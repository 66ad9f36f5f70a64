#!/usr/bin/env bash
# test_fit_ties_r.sh — `prefsim fit --model davidson|raokupper` against R on real data with
# ties, plus the tie-column error paths and bt's shortcuts (docs/theory.md §3.17).
#
# Data: BradleyTerry2's icehockey (NCAA women's ice hockey 2009-10), the 168 games of the CC
# conference: 12 teams, 32 ties (result 1/2), written by R as winner,loser,tie.  (The whole
# season, 58 teams and 1083 games, takes psychotools' btmodel ten minutes on a loaded
# machine; one conference keeps the test quick and is still strongly connected.)
#
# Davidson: psychotools::btmodel(paircomp, undecided = TRUE, ref = first team) (glm epsilon
# 1e-14).  Its coefficients are the log-worths relative to the reference and "(undecided)",
# which is log nu: with pi = exp(theta), btmodel's P(tie) = nu sqrt(pi_i pi_j) / (pi_i + pi_j +
# nu sqrt(pi_i pi_j)) (checked on one pair: 7-3 with 4 ties gives log(7/3) and log(4/sqrt(21))).
# Compared with `prefsim fit --model davidson --reference TEAM`: score and se per team,
# log_nu, log_nu_se, loglik.
#
# Rao–Kupper: ordinal::clm(y ~ X, threshold = "symmetric", link = "logit") on mirrored rows:
# each game (w, l) gives the rows (x = e_w - e_l, y = win, or tie) and (x = -(e_w - e_l), y =
# loss, or tie), y ordered loss < tie < win, X without the reference's column.  clm's model is
# P(y <= k) = sigma(c_k - x'beta): P(loss) = sigma(c_1 - Delta), P(win) = 1 - sigma(c_2 - Delta) =
# sigma(Delta - c_2).  Rao–Kupper has P(win) = sigma(Delta - eta), P(loss) = sigma(-Delta - eta),
# so c_2 = eta, c_1 = -eta and beta = the scores relative to the reference.  With two thresholds
# "symmetric" leaves both free (two central values); on mirrored data the likelihood is
# invariant under (c_1, c_2, beta) -> (-c_2, -c_1, beta), so the MLE has c_1 = -c_2 (checked:
# the centre (c_1 + c_2)/2 is printed, ~1e-17) and eta = (c_2 - c_1)/2 with
# Var = (V_11 + V_22 - 2 V_12)/4.  Mirroring counts every game twice: clm's log-likelihood is
# twice prefsim's and its information twice prefsim's, so prefsim's SEs are clm's times sqrt(2)
# (the centre's score is odd under the mirror map and the other scores even, so the centre is
# orthogonal to them and its presence changes no other SE).
#
# Tolerances: scores |prefsim - R| <= 1e-6 max(1, |R|); SEs relative 1e-4; loglik 1e-6 max(1, |R|)
# (the brief's); tau as the scores.
#
# Usage: PREFSIM=path/to/prefsim bash tests/test_fit_ties_r.sh
set -u
PREFSIM=${PREFSIM:-./prefsim}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-ties-r-XXXXXX")
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
[ -x "$PREFSIM" ] || { ko "prefsim binary '$PREFSIM' is not executable (set PREFSIM)"; finish; }

cat > "$TMP/ref.R" <<'EOF'
suppressPackageStartupMessages({library(psychotools); library(ordinal)})
args <- commandArgs(TRUE); dir <- args[1]
data(icehockey, package = "BradleyTerry2")
h <- icehockey[icehockey$conference == "CC", ]
v <- as.character(h$visitor); o <- as.character(h$opponent); r <- h$result
w <- ifelse(r == 0, o, v); l <- ifelse(r == 0, v, o); t <- as.integer(r == 0.5)
write.csv(data.frame(winner = w, loser = l, tie = t), file.path(dir, "ice.csv"), row.names = FALSE)
labs <- sort(unique(c(v, o))); K <- length(labs); ref <- labs[1]
cat(ref, file = file.path(dir, "ref.txt"))
## Davidson: paircomp's pairs run (1,2), (1,3), (2,3), (1,4), ...; the k-th game of a pair goes
## to row k (a row compares each pair at most once)
idx <- matrix(NA, K, K); k <- 0
for (j in 2:K) for (i in 1:(j - 1)) { k <- k + 1; idx[i, j] <- k }
wi <- match(w, labs); li <- match(l, labs)
col <- idx[cbind(pmin(wi, li), pmax(wi, li))]
val <- ifelse(t == 1, 0L, ifelse(wi < li, 1L, -1L))
occ <- ave(seq_along(col), col, FUN = seq_along)
M <- matrix(NA_integer_, max(occ), K * (K - 1) / 2)
M[cbind(occ, col)] <- val
pc <- paircomp(M, labels = labs, mscale = c(-1, 0, 1))
m <- btmodel(pc, undecided = TRUE, ref = ref, epsilon = 1e-14, maxit = 100)
cf <- coef(m); se <- sqrt(diag(vcov(m))); p <- length(cf)
write.table(data.frame(item = c(ref, names(cf)[-p]), score = c(0, cf[-p]), se = c(0, se[-p])),
            file.path(dir, "dav.tsv"), sep = "\t", row.names = FALSE, quote = FALSE)
cat(sprintf("%.15g\t%.15g\t%.15g\n", cf[p], se[p], as.numeric(logLik(m))), file = file.path(dir, "dav_meta.tsv"))
## Rao-Kupper: clm on mirrored rows
n <- length(w)
X <- matrix(0, 2 * n, K)
X[cbind(1:n, wi)] <- 1; X[cbind(1:n, li)] <- -1
X[cbind(n + 1:n, li)] <- 1; X[cbind(n + 1:n, wi)] <- -1
y <- factor(c(ifelse(t == 1, "tie", "win"), ifelse(t == 1, "tie", "loss")), levels = c("loss", "tie", "win"),
            ordered = TRUE)
X <- X[, -1]
fit <- clm(y ~ X, threshold = "symmetric", link = "logit",
           control = clm.control(gradTol = 1e-12, relTol = 1e-14, maxIter = 200))
b <- coef(fit); V <- vcov(fit); nb <- length(b)
eta <- (b[2] - b[1]) / 2; eta_se <- sqrt(V[1, 1] + V[2, 2] - 2 * V[1, 2]) / 2
write.table(data.frame(item = labs, score = c(0, b[3:nb]), se = c(0, sqrt(diag(V))[3:nb])),
            file.path(dir, "rk.tsv"), sep = "\t", row.names = FALSE, quote = FALSE)
cat(sprintf("%.15g\t%.15g\t%.15g\t%.3g\n", eta, eta_se, as.numeric(logLik(fit)), (b[1] + b[2]) / 2),
    file = file.path(dir, "rk_meta.tsv"))
EOF
if ! Rscript "$TMP/ref.R" "$TMP" > "$TMP/r.log" 2>&1; then
  cat "$TMP/r.log"
  ko "the R reference fits failed (r-cran-psychotools, r-cran-ordinal, r-cran-bradleyterry2)"
  finish
fi
REF=$(cat "$TMP/ref.txt")

compare() { # model R_table R_meta tau_name se_factor loglik_factor
  local model=$1
  "$PREFSIM" fit --model "$model" "$TMP/ice.csv" --reference "$REF" > "$TMP/$model.out" 2> "$TMP/$model.err"
  local rc=$?
  if [ $rc -ne 0 ]; then
    ko "$model: exit $rc: $(cat "$TMP/$model.err")"
    return
  fi
  /usr/bin/python3 - "$TMP/$model.out" "$2" "$3" "$4" "$5" "$6" <<'EOF' && ok "$model vs R: scores 1e-6, SEs 1e-4 relative, $4, loglik" || ko "$model vs R"
import sys, math
out, rtab, rmeta, tau, sef, llf = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6])
ours, meta = {}, {}
for line in open(out):
    f = line.rstrip("\n").split("\t")
    if line.startswith("#"): meta[f[0][2:]] = f[1]
    elif f[0] != "item": ours[f[0]] = (float(f[1]), float(f[2]))
bad = 0
def check(what, a, b, tol):
    global bad
    if not abs(a - b) <= tol:
        print(f"  {what}: prefsim {a!r} R {b!r} |diff| {abs(a-b):.3g} > {tol:.3g}"); bad += 1
rows = [l.rstrip("\n").split("\t") for l in open(rtab)][1:]
assert len(rows) == len(ours), (len(rows), len(ours))
for name, s, se in rows:
    s, se = float(s), float(se) * sef
    check(name + " score", ours[name][0], s, 1e-6 * max(1, abs(s)))
    check(name + " se", ours[name][1], se, 1e-4 * se if se > 0 else 1e-12)
rt, rtse, rll = [float(x) for x in open(rmeta).read().split()[:3]]
check(tau, float(meta[tau]), rt, 1e-6 * max(1, abs(rt)))
check(tau + "_se", float(meta[tau + "_se"]), rtse * sef, 1e-4 * rtse * sef)
check("loglik", float(meta["loglik"]), rll / llf, 1e-6 * max(1, abs(rll / llf)))
if meta.get("status") != "ok": print("  status", meta.get("status")); bad += 1
sys.exit(1 if bad else 0)
EOF
}
compare davidson "$TMP/dav.tsv" "$TMP/dav_meta.tsv" log_nu 1 1
compare raokupper "$TMP/rk.tsv" "$TMP/rk_meta.tsv" eta 1.4142135623730951 2

# ---- error paths and the bt shortcuts
printf 'winner,loser,tie\na,b,0\nb,a,1\na,b,yes\n' > "$TMP/bad.csv"
"$PREFSIM" fit --model davidson "$TMP/bad.csv" > /dev/null 2> "$TMP/bad.err"
rc=$?
if [ $rc -eq 3 ] && grep -q "bad.csv:4: tie 'yes' (column 3) is not 0 or 1" "$TMP/bad.err"; then ok "a tie value other than 0/1: exit 3 naming file, line, column"; else ko "bad tie value: exit $rc: $(cat "$TMP/bad.err")"; fi
"$PREFSIM" fit --model bt "$TMP/ice.csv" > /dev/null 2> "$TMP/bt.err"
rc=$?
if [ $rc -eq 3 ] && grep -q -- "--ties drop" "$TMP/bt.err" && grep -q -- "--ties half" "$TMP/bt.err"; then ok "bt on data with ties: exit 3 naming --ties drop|half"; else ko "bt on ties: exit $rc: $(cat "$TMP/bt.err")"; fi
"$PREFSIM" fit --model mm "$TMP/ice.csv" > /dev/null 2> "$TMP/mm.err"
rc=$?
if [ $rc -eq 3 ] && grep -q "does not model ties" "$TMP/mm.err"; then ok "mm on data with ties: refused"; else ko "mm on ties: exit $rc"; fi
# --ties drop = bt on the strict rows; --ties half = bt with each tie as two half rows (sorted:
# dropping rows changes the order in which items first appear)
awk -F, 'NR == 1 || $3 == 0' "$TMP/ice.csv" > "$TMP/strict.csv"
awk -F, 'NR == 1 {print "winner,loser,count"; next} $3 == 0 {print $1","$2",1"} $3 == 1 {print $1","$2",0.5"; print $2","$1",0.5"}' "$TMP/ice.csv" > "$TMP/half.csv"
for mode in drop half; do
  src=$TMP/strict.csv
  [ $mode = half ] && src=$TMP/half.csv
  a=$("$PREFSIM" fit --model bt "$TMP/ice.csv" --ties $mode | grep -v '^#' | sort)
  b=$("$PREFSIM" fit --model bt "$src" | grep -v '^#' | sort)
  if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "bt --ties $mode = bt on the resolved rows"; else ko "bt --ties $mode differs"; fi
done
# a tie model on data without ties: no MLE (exit 4)
"$PREFSIM" fit --model davidson "$TMP/strict.csv" > /dev/null 2>&1
rc=$?
if [ $rc -eq 4 ]; then ok "davidson without ties: exit 4"; else ko "davidson without ties: exit $rc"; fi
finish
