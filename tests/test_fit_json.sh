#!/usr/bin/env bash
# test_fit_json.sh — the machine-readable output of `prefsim fit` (--format text|tsv|json),
# its input layouts (--columns, crowd-kit's worker,left,right,label), its command line
# (getopt_long) and the conventions `prefsim fit --help` states; python/prefsim/fit.py.
#
#   every model of `prefsim fit --list` on one file (8 items, 10 annotators, 400 rows,
#   with a `first` column): the JSON parses (strictly: no NaN or Infinity), has the same
#   items, status and exit status as the text; the text's first table is what
#   pd.read_csv(sep='\t', comment='#') reads (the annotator table commented out), and
#   --format tsv prints the same table with no comment line; every table value of the
#   JSON printed with %.12g is the text's cell, and every "# key" number of the text is
#   the JSON's printed at the text's precision; no value prints as nan;
#   crowd-kit's layout (the same rows as worker,left,right,label, left/right shuffled)
#   and --columns on renamed headers give the same fit as winner,loser (1e-9);
#   mixture --k auto: the chosen K, a BIC per K, bic_status, and on two opposite groups
#   with --k-max 2 the "still falling" warning;
#   BradleyTerry2 (R): logLik(BTm) on one binomial row per pair = loglik +
#   binomial_constant (Stigler's citations), and on one row per comparison = loglik
#   (1e-6 relative);
#   choix: its opt_pairwise objective alpha ||theta||^2 + sum log(1 + e^-(theta_w -
#   theta_l)) (choix/opt.py, PairwiseFcts), minimised by scipy at alpha = 0.5, is bt
#   with --l2 1 = 2 alpha (1e-6), and not --l2 0.5;
#   the error paths of --columns, the crowd-kit layout, --format/--table/-o and options.
#
# Usage: PREFSIM=path/to/prefsim bash tests/test_fit_json.sh   (default ./prefsim)
set -u
PREFSIM=${PREFSIM:-./prefsim}
PYTHON=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-fit-json-XXXXXX")
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
PREFSIM=$(cd "$(dirname "$PREFSIM")" && pwd)/$(basename "$PREFSIM")
cd "$TMP" || exit 1

"$PYTHON" - <<'PY'
import numpy as np
rng = np.random.default_rng(20261207)
m, H = 8, 10
s = rng.normal(0, 1, m)
sig = lambda z: 1 / (1 + np.exp(-z))
rows = []
for h in range(H):
    for _ in range(40):
        a, b = rng.choice(m, 2, replace=False)
        w, l = (a, b) if rng.random() < sig(s[a] - s[b]) else (b, a)
        rows.append((f"i{w}", f"i{l}", f"u{h}", f"i{a}"))
with open("ann.csv", "w") as f:
    f.write("winner,loser,annotator,first\n")
    for w, l, u, a in rows:
        f.write(f"{w},{l},{u},{a}\n")
# the same without the first-shown item (the other layouts do not have it)
with open("plain.csv", "w") as f:
    f.write("winner,loser,annotator\n")
    for w, l, u, a in rows:
        f.write(f"{w},{l},{u}\n")
# the same rows in crowd-kit's layout: left/right in a random order, label the winner
with open("crowd.csv", "w") as f:
    f.write("worker,left,right,label\n")
    for w, l, u, a in rows:
        x, y = (w, l) if rng.random() < 0.5 else (l, w)
        f.write(f"{u},{x},{y},{w}\n")
# renamed headers and a count column of ones, for --columns
with open("renamed.csv", "w") as f:
    f.write("rater,n,A,B\n")
    for w, l, u, a in rows:
        f.write(f"{u},1,{w},{l}\n")
# two groups of users with opposite rewards (BIC prefers K = 2 to K = 1)
r = rng.normal(0, 1.5, 10)
with open("opposite.csv", "w") as f:
    f.write("annotator,winner,loser\n")
    for h in range(20):
        rh = r if h < 10 else -r
        for _ in range(40):
            a, b = rng.choice(10, 2, replace=False)
            w, l = (a, b) if rng.random() < sig(rh[a] - rh[b]) else (b, a)
            f.write(f"user{h},x{w},x{l}\n")
PY
check "test data generated" test -s ann.csv -a -s plain.csv -a -s crowd.csv -a -s renamed.csv -a -s opposite.csv

# ------------------------------------------------------------ every model
models=$("$PREFSIM" fit --list | awk '/^estimators that fit item/ { on = 1; next } /^$/ { on = 0 } on { print $1 }')
check "fit --list names the item models (bt, mixture, gpm, minimax among them)" \
  bash -c "echo '$models' | grep -qx bt && echo '$models' | grep -qx mixture && echo '$models' | grep -qx gpm && echo '$models' | grep -qx minimax"
for mdl in $models; do
  "$PREFSIM" fit --model "$mdl" ann.csv >"$mdl.txt" 2>"$mdl.txt.err"
  echo $? >"$mdl.txt.rc"
  "$PREFSIM" fit --model "$mdl" ann.csv --format json >"$mdl.json" 2>"$mdl.json.err"
  echo $? >"$mdl.json.rc"
  "$PREFSIM" fit --model "$mdl" ann.csv --format tsv >"$mdl.tsv" 2>/dev/null
  "$PREFSIM" fit --model "$mdl" ann.csv --format tsv --table stats >"$mdl.stats" 2>/dev/null
done
echo "$models" >models.txt

"$PYTHON" - "$HERE" >py.out 2>&1 <<'PY'
import json, math, sys
import pandas as pd

def strict(x):
    raise ValueError(f"non-JSON constant {x}")

models = open("models.txt").read().split()
bad = []
def fail(m, why):
    bad.append(f"{m}: {why}")

def meta_lines(path):
    out = []
    for line in open(path, encoding="utf-8"):
        if line.startswith("# ") and "\t" in line:
            k, v = line[2:].rstrip("\n").split("\t", 1)
            out.append((k, v))
    return out

for m in models:
    rc_t, rc_j = open(f"{m}.txt.rc").read().strip(), open(f"{m}.json.rc").read().strip()
    if rc_t != rc_j:
        fail(m, f"exit {rc_t} (text) vs {rc_j} (json)")
        continue
    try:
        doc = json.loads(open(f"{m}.json", encoding="utf-8").read(), parse_constant=strict)
    except Exception as e:
        fail(m, f"JSON does not parse: {e}")
        continue
    for k in ("format", "model", "status", "items", "fit", "convergence", "options", "data"):
        if k not in doc:
            fail(m, f"JSON has no {k}")
    if doc.get("model") != m:
        fail(m, f"JSON model {doc.get('model')}")
    text = pd.read_csv(f"{m}.txt", sep="\t", comment="#", keep_default_na=False, dtype=str)
    tsv = pd.read_csv(f"{m}.tsv", sep="\t", keep_default_na=False, dtype=str)
    if not text.equals(tsv):
        fail(m, "--format tsv differs from the text's first table")
    meta = dict(meta_lines(f"{m}.txt"))
    if meta.get("status") != doc["status"]:
        fail(m, f"status {meta.get('status')} (text) vs {doc['status']} (json)")
    for k, v in meta_lines(f"{m}.txt"):
        if v.lower() in ("nan", "-nan", "inf", "-inf"):
            fail(m, f"# {k} prints {v}")
    # the first text table against the JSON's table of the same name
    name = "logits" if m == "gpm" else "items"
    jt = doc[name]
    if name == "logits":
        rows, cols, vals = jt["rows"], jt["columns"], jt["values"]
        if list(text.columns) != ["item"] + cols or list(text["item"]) != rows:
            fail(m, "logits: header or rows differ")
        cells = [(rows[i], c, vals[i][j]) for i in range(len(rows)) for j, c in enumerate(cols)]
        tx = text.set_index("item")
        got = [(tx.loc[r, c], v) for r, c, v in cells]
    else:
        if list(text["item"]) != [x["name"] for x in jt]:
            fail(m, "item names differ")
            continue
        cols = [c for c in text.columns if c != "item"]
        if any(c not in x for x in jt for c in cols):
            fail(m, f"JSON items lack a text column ({cols})")
            continue
        got = [(text.iloc[i][c], jt[i][c]) for i in range(len(jt)) for c in cols]
    for cell, v in got:
        want = "NA" if v is None else "%.12g" % v
        if cell != want:
            fail(m, f"table cell {cell} vs JSON {v!r} ({want})")
            break
    # the key/value lines: every number equal to the JSON's at the text's precision
    flat = {}
    for s in ("fit", "convergence", "options", "data"):
        flat.update(doc[s])
    for k, v in meta_lines(f"{m}.txt"):
        if k not in flat or k.endswith("_note"):
            continue
        j = flat[k]
        if isinstance(j, bool):
            okv = v == ("yes" if j else "no") or v == ("true" if j else "false")
        elif j is None:
            okv = v == "NA" and (f"{k}_status" in flat)
        elif isinstance(j, (int, float)):
            try:
                x = float(v)
                okv = any(float(f % j) == x for f in ("%.12g", "%.3g", "%.17g"))
            except ValueError:
                okv = False
        else:
            okv = v == str(j).replace("\t", " ")
        if not okv:
            fail(m, f"# {k} {v} vs JSON {j!r}")
    # the annotator table: JSON's equals --format tsv --table annotators
    if "annotators" in doc:
        if not any(line.startswith("#| annotator\t") for line in open(f"{m}.txt")):
            fail(m, "the annotator table is not commented out in the text")
    # tsv's stats table holds the same key/value lines
    st = pd.read_csv(f"{m}.stats", sep="\t", keep_default_na=False, dtype=str)
    if list(st.columns) != ["key", "value"] or len(st) < 5:
        fail(m, "--table stats is not a key/value table")
print("\n".join(bad) if bad else "all models agree")
sys.exit(1 if bad else 0)
PY
check "every model: JSON parses, text/tsv parse with pandas, values agree to the last digit, no nan ($(tail -1 py.out))" test $? -eq 0
grep -v "all models agree" py.out | head -20

check "mixture text: the annotator table commented out, --annotators FILE gets it as a TSV" \
  bash -c "'$PREFSIM' fit --model mixture ann.csv --annotators mx_ann.tsv >mx.txt 2>/dev/null && head -1 mx_ann.tsv | grep -q \$'^annotator\tcluster' && ! grep -q '^#| ' mx.txt && test \$(wc -l <mx_ann.tsv) = 11"
check "tsv --table annotators: one table, 10 annotators" \
  bash -c "'$PREFSIM' fit --model noisybt ann.csv --format tsv --table annotators | '$PYTHON' -c \"import sys, pandas as pd; t = pd.read_csv(sys.stdin, sep='\\t'); sys.exit(not (len(t) == 10 and t.columns[0] == 'annotator'))\""
check "grad_norm of an EM fit: NA with a note naming the convergence test (text), null with a status (JSON)" \
  bash -c "grep -qx \$'# grad_norm\tNA' flipem.txt && grep -q \$'^# grad_norm_note\tunavailable: --model flipem' flipem.txt && '$PYTHON' -c \"import json; c = json.load(open('flipem.json'))['convergence']; exit(not (c['grad_norm'] is None and 'tol' in c['grad_norm_status']))\""

# ------------------------------------------------------------ layouts
"$PYTHON" - "$PREFSIM" >layouts.out 2>&1 <<'PY'
import json, subprocess, sys
P = sys.argv[1]
def run(*a):
    p = subprocess.run([P, "fit", "--format", "json", *a], capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{a}: exit {p.returncode}: {p.stderr}")
    return json.loads(p.stdout)
def close(d1, d2, key="score"):
    a = {x["name"]: x[key] for x in d1["items"]}
    b = {x["name"]: x[key] for x in d2["items"]}
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-9 * max(1, abs(a[k])) for k in a)
bad = []
for model in ("bt", "noisybt", "mixture"):
    ref = run("--model", model, "plain.csv")
    ck = run("--model", model, "crowd.csv")
    if not close(ref, ck):
        bad.append(f"{model}: crowd-kit layout differs from winner,loser")
    if model == "noisybt":
        a = {x["name"]: x["competence"] for x in ref["annotators"]}
        b = {x["name"]: x["competence"] for x in ck["annotators"]}
        if a.keys() != b.keys() or any(abs(a[k] - b[k]) > 1e-9 for k in a):
            bad.append("noisybt: crowd-kit workers' competences differ")
    mp = run("--model", model, "renamed.csv", "--columns", "winner=A,loser=B,annotator=rater,count=n")
    if not close(ref, mp):
        bad.append(f"{model}: --columns differs from winner,loser")
    if mp["data"]["annotators"] != 10:
        bad.append(f"{model}: --columns annotator=rater: {mp['data']['annotators']} annotators")
print("\n".join(bad) if bad else "layouts agree")
sys.exit(1 if bad else 0)
PY
check "crowd-kit worker,left,right,label and --columns give the winner,loser fit (bt, noisybt, mixture)" test $? -eq 0
grep -v "layouts agree" layouts.out | head

# ------------------------------------------------------------ mixture --k auto
"$PREFSIM" fit --model mixture --k auto --k-max 4 --param restarts=3 ann.csv >auto.txt 2>auto.err
check "mixture --k auto: exit 0, # k the chosen K, # k_max 4, # bic_status" \
  bash -c "test $? = 0 && grep -qx \$'# k_max\t4' auto.txt && grep -q \$'^# k\t[1-4]\$' auto.txt && grep -q \$'^# bic_status\t' auto.txt"
check "mixture --k auto: the bic table, one row per K (commented out in text; --format tsv --table bic)" \
  bash -c "test \$(grep -c \$'^#| [1-4]\t' auto.txt) = 4 && '$PREFSIM' fit --model mixture --k auto --k-max 4 --param restarts=3 ann.csv --format tsv --table bic 2>/dev/null | '$PYTHON' -c \"import sys, pandas as pd; t = pd.read_csv(sys.stdin, sep='\\t'); sys.exit(not (list(t['k']) == [1, 2, 3, 4]))\""
"$PREFSIM" fit --model mixture --k auto --k-max 4 --param restarts=3 ann.csv --format json >auto.json 2>/dev/null
check "mixture --k auto JSON: chosen k is the BIC minimum of the bic table" \
  "$PYTHON" -c "
import json; d = json.load(open('auto.json')); b = d['bic']
best = min(b, key=lambda r: r['bic'])['k']
exit(not (d['options']['k'] == best and d['options']['k_max'] == 4 and abs(d['fit']['bic'] - min(r['bic'] for r in b)) < 1e-9))"
"$PREFSIM" fit --model mixture --k auto --k-max 2 --param restarts=3 opposite.csv >fall.txt 2>fall.err
check "mixture --k auto --k-max 2 on two opposite groups: BIC still falling: warning on stderr and # bic_status" \
  bash -c "grep -q 'BIC is still falling at --k-max 2' fall.err && grep -qx \$'# bic_status\tstill-falling' fall.txt && grep -qx \$'# k\t2' fall.txt"

# ------------------------------------------------------------ BradleyTerry2's logLik
if command -v Rscript >/dev/null && Rscript -e 'suppressMessages(library(BradleyTerry2))' >/dev/null 2>&1; then
  cat >ll.R <<'EOF'
suppressMessages(library(BradleyTerry2))
data(citations)
cb <- countsToBinomial(citations)
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
m <- BTm(cbind(win1, win2), player1, player2, data = cb, control = ctl)
rows <- rbind(data.frame(winner = cb$player1, loser = cb$player2, count = cb$win1),
              data.frame(winner = cb$player2, loser = cb$player1, count = cb$win2))
rows <- rows[rows$count > 0, ]
write.csv(rows, "cit.csv", row.names = FALSE)
# a small file, one BTm row per comparison (binary outcomes)
d <- read.csv("ann.csv")
lv <- sort(unique(c(d$winner, d$loser)))
b <- data.frame(p1 = factor(d$winner, lv), p2 = factor(d$loser, lv), w = 1, l = 0)
m2 <- BTm(cbind(w, l), p1, p2, data = b, control = ctl)
cat(sprintf("%.15g %.15g\n", as.numeric(logLik(m)), as.numeric(logLik(m2))))
EOF
  read -r r_cit r_ann < <(Rscript ll.R 2>/dev/null)
  "$PREFSIM" fit --model bt cit.csv --format json >cit.json 2>/dev/null
  "$PREFSIM" fit --model bt ann.csv --format json >annbt.json 2>/dev/null
  check "BradleyTerry2 logLik (one row per pair, citations $r_cit) = loglik + binomial_constant (1e-6)" \
    "$PYTHON" -c "
import json; f = json.load(open('cit.json'))['fit']; r = float('$r_cit')
exit(not (abs(f['loglik'] + f['binomial_constant'] - r) <= 1e-6 * abs(r) and abs(f['loglik_bradleyterry2'] - r) <= 1e-6 * abs(r) and abs(f['loglik'] - r) > 1))"
  check "BradleyTerry2 logLik (one row per comparison, $r_ann) = loglik (1e-6)" \
    "$PYTHON" -c "
import json; f = json.load(open('annbt.json'))['fit']; r = float('$r_ann')
exit(not abs(f['loglik'] - r) <= 1e-6 * abs(r))"
  check "fit --help states the binomial constant and BradleyTerry2's logLik" \
    bash -c "'$PREFSIM' fit --help | grep -q 'loglik + sum over unordered pairs {i, j} of log C(n_ij, w_ij)'"
else
  ko "R with BradleyTerry2 is not installed: the logLik relation is untested"
fi

# ------------------------------------------------------------ choix's alpha
"$PYTHON" - "$PREFSIM" >choix.out 2>&1 <<'PY'
import json, subprocess, sys
import numpy as np
from scipy.optimize import minimize
P = sys.argv[1]
rows = [l.split(",")[:2] for l in open("ann.csv").read().split("\n")[1:] if l]
names = sorted({x for r in rows for x in r})
ix = {n: i for i, n in enumerate(names)}
W = np.array([ix[w] for w, _ in rows]); L = np.array([ix[l] for _, l in rows])
alpha = 0.5
# choix/opt.py, PairwiseFcts: objective = alpha * sum(params**2) + sum logaddexp(0, -(p[win] - p[los]))
def f(p):
    return alpha * np.sum(p ** 2) + np.sum(np.logaddexp(0, -(p[W] - p[L])))
def g(p):
    z = 1 / (1 + np.exp(p[W] - p[L]))
    gr = 2 * alpha * p
    np.add.at(gr, W, -z); np.add.at(gr, L, z)
    return gr
res = minimize(f, np.zeros(len(names)), jac=g, method="BFGS", options={"gtol": 1e-12, "maxiter": 10000})
th = res.x - res.x.mean()
def prefsim(l2):
    d = json.loads(subprocess.run([P, "fit", "--model", "bt", "ann.csv", "--l2", str(l2), "--format", "json"],
                                  capture_output=True, text=True, check=True).stdout)
    s = {x["name"]: x["score"] for x in d["items"]}
    return max(abs(s[n] - th[ix[n]]) for n in names)
e2, e1 = prefsim(2 * alpha), prefsim(alpha)
print(f"alpha {alpha}: |--l2 {2*alpha} - choix| = {e2:.2e}, |--l2 {alpha} - choix| = {e1:.2e}")
sys.exit(0 if e2 < 1e-6 and e1 > 1e-3 else 1)
PY
check "choix's opt_pairwise objective at alpha = 0.5 is bt --l2 1 (2 x alpha), not --l2 0.5 ($(tail -1 choix.out))" test $? -eq 0
check "fit --help states --l2 = 2 x choix's alpha" bash -c "'$PREFSIM' fit --help | grep -q 'so L = 2 x alpha'"

# ------------------------------------------------------------ error paths
expect() { # expect NAME EXIT PATTERN ARGS...: exit status EXIT and PATTERN on stderr
  local name=$1 want=$2 pat=$3; shift 3
  "$PREFSIM" fit "$@" >err.out 2>err.txt
  local got=$?
  if [ "$got" = "$want" ] && grep -qE -- "$pat" err.txt; then ok "$name"; else
    ko "$name (exit $got, stderr: $(head -c 300 err.txt))"; fi
}
expect "--columns unknown role: exit 2, the allowed roles" 2 "unknown role 'wiener'; allowed: winner, loser, count, annotator, first, left, right, label" \
  --model bt renamed.csv --columns wiener=A
expect "--columns role mapped twice: exit 2" 2 "role winner is mapped twice \('A' and 'B'\)" --model bt renamed.csv --columns winner=A,winner=B
expect "--columns one column mapped to two roles: exit 2" 2 "column 'A' is mapped to two roles, winner and loser" \
  --model bt renamed.csv --columns winner=A,loser=A
expect "--columns not ROLE=NAME: exit 2" 2 "'winner' is not ROLE=COLUMN" --model bt renamed.csv --columns winner
expect "--columns a column the header lacks: exit 3, file, line and the columns found" 3 \
  "renamed.csv:1: --columns winner=Z: the header has no column 'Z'; found 4 columns: 'rater', 'n', 'A', 'B'" \
  --model bt renamed.csv --columns winner=Z,loser=B
printf 'worker,left,right,label\nu,a,b,a\nu,b,c,z\n' >badlabel.csv
expect "crowd-kit label neither left nor right: exit 3, file, line, columns" 3 \
  "badlabel.csv:3: label 'z' \(column 4\) is neither left 'b' \(column 2\) nor right 'c' \(column 3\)" --model bt badlabel.csv
printf 'worker,left,right,label\nu,a,a,a\n' >same.csv
expect "crowd-kit left = right: exit 3" 3 "same.csv:2: left and right are the same item 'a'" --model bt same.csv
printf 'worker,left,right\nu,a,b\n' >nolabel.csv
expect "crowd-kit layout without label: exit 3, naming it" 3 "nolabel.csv:1: the header has no 'label' column" --model bt nolabel.csv
printf 'annotator,worker,winner,loser\nu,v,a,b\n' >twoann.csv
expect "annotator and worker both: exit 3" 3 "twoann.csv:1: the header has two annotator columns" --model bt twoann.csv
expect "--columns label on a winner,loser file: exit 3" 3 "maps label, a role of the left,right,label layout" \
  --model bt ann.csv --columns label=first
expect "--format bad: exit 2, the allowed ones" 2 "--format xml: allowed: text, tsv, json" --model bt ann.csv --format xml
expect "--table without --format tsv: exit 2" 2 "--table bic applies to --format tsv only" --model bt ann.csv --table bic
expect "--table a model does not have: exit 2, its tables" 2 "--table bic: --model bt has no such table; it has: items, stats" \
  --model bt ann.csv --format tsv --table bic
expect "unknown option: named, with did you mean" 2 "unknown option '--fromat'; did you mean --format\?" --model bt ann.csv --fromat json
expect "ambiguous prefix: the candidates" 2 "ambiguous option '--a': --annotators, --allow-large" --model bt ann.csv --a x
expect "a flag given a value: exit 2" 2 "--list takes no value" --list=3
expect "an option without its value: exit 2" 2 "--seed needs a value" --model bt ann.csv --seed
expect "an abbreviated option without its value: its full name" 2 "--seed needs a value" --model bt ann.csv --se
expect "an unknown short option inside a cluster: named (not the word before it)" 2 "unknown option '-x'" --list -vx
expect "an unknown short option first in a cluster: named" 2 "unknown option '-x'" --list -xv
expect "-o DATA itself: exit 2" 2 "--output ann.csv is the data file itself" --model bt ann.csv -o ann.csv
expect "-o in a missing directory: exit 5" 5 "cannot write --output nodir/x.json: its directory" --model bt ann.csv -o nodir/x.json
check "--model=bt, -oFILE, --format=json: the JSON in FILE" \
  bash -c "'$PREFSIM' fit --model=bt -oout.json --format=json ann.csv 2>/dev/null && '$PYTHON' -c \"import json; exit(json.load(open('out.json'))['model'] != 'bt')\""
check "-m bt -p l2=0.5 (short options) = --model bt --param l2=0.5" \
  bash -c "cmp -s <('$PREFSIM' fit -m bt -p l2=0.5 ann.csv) <('$PREFSIM' fit --model bt --param l2=0.5 ann.csv)"

# ------------------------------------------------------------ JSON strings
printf 'winner,loser\n"a ""q"" \\ b","tab\there"\n"tab\there","a ""q"" \\ b"\n"a ""q"" \\ b",caf\xc3\xa9\ncaf\xc3\xa9,"tab\there"\nbad\xff,caf\xc3\xa9\n"tab\there",bad\xff\n' >names.csv
"$PREFSIM" fit --model borda names.csv --format json >names.json 2>/dev/null
check "JSON escapes quotes, backslashes and tabs, keeps UTF-8, replaces invalid bytes by U+FFFD" \
  "$PYTHON" -c "
import json; d = json.loads(open('names.json', 'rb').read().decode('utf-8'))
n = sorted(x['name'] for x in d['items'])
exit(not (n == sorted(['a \"q\" \\\\ b', 'tab\there', 'café', 'bad\ufffd'])))"

# ------------------------------------------------------------ python/prefsim/fit.py
"$PYTHON" - "$PREFSIM" "$HERE/../python/prefsim/fit.py" >pyfit.out 2>&1 <<'PY'
import importlib.util, json, subprocess, sys
import pandas as pd
P, path = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("prefsim_fit", path)
mod = importlib.util.module_from_spec(spec); sys.modules[spec.name] = mod; spec.loader.exec_module(mod)
bad = []
r = mod.fit("ann.csv", "bt", prefsim=P, reference="i0")
doc = json.loads(subprocess.run([P, "fit", "--model", "bt", "--reference", "i0", "--format", "json", "ann.csv"],
                                capture_output=True, text=True).stdout)
if list(r.items["name"]) != [x["name"] for x in doc["items"]] or list(r.items["score"]) != [x["score"] for x in doc["items"]]:
    bad.append("bt: items differ from the CLI's JSON")
if r.fit["loglik"] != doc["fit"]["loglik"] or r.status != "ok" or r.options["scale"] != "reference i0":
    bad.append("bt: fit statistics or options differ")
df = pd.read_csv("crowd.csv")
r2 = mod.fit(df, "noisybt", prefsim=P)
if len(r2.annotators) != 10 or "competence" not in r2.annotators:
    bad.append("noisybt from a DataFrame in crowd-kit's layout: no annotator table")
r3 = mod.fit(pd.read_csv("renamed.csv"), "bt", prefsim=P, columns={"winner": "A", "loser": "B", "count": "n"})
if max(abs(a - b) for a, b in zip(sorted(r3.items["score"]), sorted(mod.fit("ann.csv", "bt", prefsim=P).items["score"]))) > 1e-9:
    bad.append("columns= mapping differs")
r4 = mod.fit("ann.csv", "mixture", prefsim=P, k="auto", k_max=3, restarts=2)
if list(r4.tables["bic"]["k"]) != [1, 2, 3]:
    bad.append("mixture k='auto': no bic table")
r5 = mod.fit("ann.csv", "mm", prefsim=P)
if r5.convergence["grad_norm"] is not None or not r5.items["score"].notna().all():
    bad.append("mm: grad_norm should be None, scores finite")
try:
    mod.fit("ann.csv", "bt", prefsim=P, wrong=1)
    bad.append("an unknown hyperparameter did not raise")
except mod.PrefsimFitError as e:
    if e.returncode != 2 or "unknown hyperparameter" not in e.stderr or "unknown hyperparameter" not in str(e):
        bad.append(f"error without prefsim's stderr: {e!r}")
try:
    mod.fit("ann.csv", "bt", prefsim="/nonexistent/prefsim")
    bad.append("a missing executable did not raise")
except mod.PrefsimFitError as e:
    pass
r6 = mod.fit("ann.csv", "gpm", prefsim=P, check=False)
if r6.status != "not-converged" or r6.tables["logits"].shape != (8, 8):
    bad.append("gpm check=False: not the not-converged result with its logit matrix")
try:
    mod.fit("ann.csv", "gpm", prefsim=P)
    bad.append("a not-converged fit did not raise")
except mod.PrefsimFitError as e:
    if e.returncode != 6 or e.result is None:
        bad.append("not-converged: no exit 6 or no result attached")
print("\n".join(bad) if bad else "fit.py ok")
sys.exit(1 if bad else 0)
PY
check "python/prefsim/fit.py: paths and DataFrames, options, tables, errors with prefsim's stderr" test $? -eq 0
grep -v "fit.py ok" pyfit.out | head

finish
