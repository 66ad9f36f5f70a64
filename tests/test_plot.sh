#!/usr/bin/env bash
# prefsim plot: option parsing (getopt_long forms, unknown options named), errors
# naming what is allowed (exit 2), the generated gnuplot (labels in words, log
# scales from the data, intervals clipped to the metric's range, legend, size,
# bands, facets, cairolatex math) and that gnuplot renders PNG without a warning.
set -u
P=$(realpath "${PREFSIM:-./prefsim}")
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-plot-XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
has() { grep -qF -- "$2" "$1"; }

# three replicates: t_{0.975,2} = 4.3 makes the intervals wide, so clipping shows;
# n spans 200..6400 (32x: a log axis by default), link is a text axis
cat >"$T/p.ini" <<'EOF'
[experiment]
name = p
seed = 4242
replicates = 3
metrics = param_err, accuracy, kendall_tau

[world]
kind = features
contexts = 40
responses = 5
dim = 3

[data]
heldout = 300

[sweep]
n = 200, 800, 6400
link = logistic, probit

[estimator.bt]
l2 = 0

[estimator.ridge]
type = bt
l2 = 0.5

[figure.err]
metric = bt/param_err, ridge/param_err
x = n
kind = line
at = link=logistic
EOF
$P run "$T/p.ini" -o "$T/p.h5" --quiet >/dev/null 2>"$T/run.err" || { cat "$T/run.err"; echo "FAIL run"; exit 1; }

# --- help and option parsing
$P plot --help >"$T/help.out"
check "plot --help exits 0" test $? -eq 0
for o in --metric --name --x --by --facet --at --xlabel --ylabel --title --labels --logx --logy --band --bars \
  --interval --legend --size --format --output --no-gnuplot; do
  check "plot --help documents $o" has "$T/help.out" "$o"
done
$P help plot >"$T/help2.out"
check "prefsim help plot prints the same text" cmp -s "$T/help.out" "$T/help2.out"
$P plot "$T/p.h5" --format=png -o"$T/f1" >/dev/null 2>"$T/f1.err"
check "--format=png and -oDIR are accepted" sh -c "test $? -eq 0 && test -s '$T/f1/p_err.png' && ! test -e '$T/f1/p_err.pdf'"
$P plot --output="$T/f2" --no-gnuplot "$T/p.h5" >/dev/null
check "options after or before the file, --output=DIR" test -s "$T/f2/p_err.gp"

$P plot "$T/p.h5" --colour=red >/dev/null 2>"$T/e.err"
check "an unknown option: exit 2" test $? -eq 2
check "the unknown option is named" has "$T/e.err" "'--colour'"
$P plot "$T/p.h5" --legnd=inside >/dev/null 2>"$T/e.err"
check "a misspelt option gets a did-you-mean" has "$T/e.err" "did you mean '--legend'"
$P plot "$T/p.h5" -q >/dev/null 2>"$T/e.err"
check "an unknown short option is named (exit 2)" sh -c "test $? -eq 2 && grep -qF -- \"'-q'\" '$T/e.err'"
$P plot "$T/p.h5" --x >/dev/null 2>"$T/e.err"
check "an option without its value: exit 2" test $? -eq 2
$P plot >/dev/null 2>&1
check "no results file: exit 2" test $? -eq 2

# --- errors name what is allowed, exit 2
$P plot "$T/p.h5" --metric bt/nope --no-gnuplot -o "$T/e" >/dev/null 2>"$T/e.err"
check "an unknown metric: exit 2" test $? -eq 2
check "an unknown metric is named with what exists" sh -c "grep -q nope '$T/e.err' && grep -q param_err '$T/e.err'"
$P plot "$T/p.h5" --metric bt/param_err --x dim --no-gnuplot -o "$T/e" >/dev/null 2>"$T/e.err"
check "an unknown axis: exit 2" test $? -eq 2
check "an unknown axis is named with the axes" sh -c "grep -q \"'dim'\" '$T/e.err' && grep -q 'axes: n (3 values), link (2 values)' '$T/e.err'"
$P plot "$T/p.h5" --at link=cauchy --no-gnuplot -o "$T/e" >/dev/null 2>"$T/e.err"
check "an unknown axis value: exit 2, the values listed" sh -c "test $? -eq 2 && grep -q 'values: logistic, probit' '$T/e.err'"
$P plot "$T/p.h5" --legend sideways --no-gnuplot -o "$T/e" >/dev/null 2>"$T/e.err"
check "a bad --legend: exit 2 with the choices" sh -c "test $? -eq 2 && grep -q 'auto|inside|outside|none' '$T/e.err'"
$P plot "$T/p.h5" --size 2x200 --no-gnuplot -o "$T/e" >/dev/null 2>"$T/e.err"
check "a bad --size: exit 2 with the forms" sh -c "test $? -eq 2 && grep -q 'single (8.5 cm' '$T/e.err'"
$P plot "$T/p.h5" --metric bt/param_err --by nope --no-gnuplot -o "$T/e" >/dev/null 2>"$T/e.err"
check "an unknown --by axis: exit 2" test $? -eq 2
$P plot "$T/p.h5" --metric bt/param_err --by n --no-gnuplot -o "$T/e" >/dev/null 2>&1
check "--by the x axis: exit 2" test $? -eq 2

# --- the generated gnuplot
G() { $P plot "$T/p.h5" --no-gnuplot -o "$T/g" "$@" >/dev/null 2>"$T/g.err"; }
G --metric bt/param_err,ridge/param_err --by link
D=$T/g/p_bt_param_err.gp
check "--metric figure named after its first metric" test -s "$D"
check "x label: the axis in words" has "$D" '"training comparisons n"'
check "y label: the metric's long name" has "$D" "after normalisation"
check "n over 32x: log x by default" has "$D" "set logscale x"
check "series name only what varies, in words" sh -c "grep -qF '\"bt, logistic link\"' '$D' && grep -qF '\"ridge, probit link\"' '$D'"
check "no raw axis=value ids in series titles" sh -c "! grep -q 'link=' '$D'"
check "intervals as error bars by default" has "$D" "with yerrorbars"
check "legend placed inside (never below)" sh -c "grep -Eq '^set key (inside|at graph)' '$D' && ! grep -q 'bottom center' '$D'"
check "single-column size by default" has "$D" "size_w = 8.5; size_h = 6.4"
G --metric bt/param_err --at link=logistic --logx=no --logy --band --legend outside --size 12x8 --name custom
D=$T/g/p_custom.gp
check "--logx=no" sh -c "! grep -q 'set logscale x' '$D'"
check "--logy" has "$D" "set logscale y"
check "--band: a shaded interval" has "$D" "filledcurves"
check "--size WxH" has "$D" "size_w = 12; size_h = 8"
check "--name names the figure" test -s "$D"
G --metric bt/param_err --by link --legend outside
check "--legend outside: right of the graph" has "$T/g/p_bt_param_err.gp" "set key outside right"
G --metric bt/param_err --by link --legend none
check "--legend none" has "$T/g/p_bt_param_err.gp" "unset key"
G --metric bt/param_err --facet link --size double
check "--facet: one panel per value" has "$T/g/p_bt_param_err.gp" "set multiplot layout 1,2"
check "--size double: 17.8 cm" has "$T/g/p_bt_param_err.gp" "size_w = 17.8"
check "--facet: the vertical label once per row" has "$T/g/p_bt_param_err.gp" "set ylabel ''"
G --metric bt/param_err,ridge/param_err --facet link --labels 'Newton maximum-likelihood estimate, unpenalised|ridge-penalised estimate with l2 = 0.5'
D=$T/g/p_bt_param_err.gp
check "--facet, a key wider than a panel: one horizontal key above the panels" sh -c "grep -q 'set key inside center center horizontal' '$D' && grep -q '^set origin 0.5000, 0' '$D' && ! grep -q 'multiplot layout' '$D'"
check "  narrow panels: every sweep value a tic, labels thinned" has "$D" '"" 800'
G --metric bt/param_err --by link --labels 'Newton MLE|probit link' --xlabel 'sample size' --title 'T'
check "--labels replaces the series titles" sh -c "grep -qF '\"Newton MLE\"' '$T/g/p_bt_param_err.gp' && grep -qF '\"probit link\"' '$T/g/p_bt_param_err.gp'"
check "--xlabel" has "$T/g/p_bt_param_err.gp" '"sample size"'
G --metric bt/param_err --at link=logistic --ylabel '$\hat\beta$ error, 10% of n_0'
D=$T/g/p_bt_param_err.gp
check "cairolatex gets the math verbatim and text escaped" has "$D" '"$\\hat\\beta$ error, 10\\% of n\\_0"'
check "pdf and png get plain text for the math" has "$D" '"β error, 10% of n_0"'

# intervals clipped to the metric's declared range (param_err >= 0, accuracy and
# Kendall tau <= 1): with 3 replicates the raw t interval leaves the range
G --metric bt/param_err,bt/accuracy,bt/kendall_tau --by link --name clip
check "intervals stay in the metric's range, and some were clipped" $PY - "$T/g" "$T/p.h5" <<'PY'
import glob, sys, h5py, numpy as np
d = sys.argv[1]
f = h5py.File(sys.argv[2], "r")
rng = {"bt/param_err": (0, np.inf), "bt/accuracy": (0, 1), "bt/kendall_tau": (-1, 1)}
clipped = 0
for p in sorted(glob.glob(d + "/p_clip.s*.tsv")):
    metric = open(p).readline()[2:].split("\t")[0]
    lo, hi = rng[metric]
    t = np.loadtxt(p)
    assert np.all(t[:, 2] >= lo) and np.all(t[:, 3] <= hi), (p, t)
    clipped += np.sum(t[:, 2] == lo) + np.sum(t[:, 3] == hi)
assert clipped > 0, "no interval reached a bound: the test cannot see clipping"
PY

# the palette: no yellow, no near-white colour
check "palette: no #F0E442, no near-white colour" $PY - "$T/g/style.gp" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
cols = re.findall(r'set style line \d+ lc rgb "#([0-9A-Fa-f]{6})"', s)
assert len(cols) >= 8 and "F0E442" not in [c.upper() for c in cols]
for c in cols:
    r, g, b = (int(c[i:i + 2], 16) / 255 for i in range(0, 6, 2))
    assert 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.7, c
dts = re.findall(r'set style line [1-8] .* dt (\S+)', s)
pts = re.findall(r'set style line [1-8] .* pt (\d+)', s)
assert len(set(dts)) == 8 and len(set(pts)) == 8, (dts, pts)
PY

# --- [figure] keys in the config, and gnuplot renders without a warning
cat "$T/p.ini" >"$T/q.ini"
cat >>"$T/q.ini" <<'EOF'

[figure.styled]
metric = bt/accuracy, ridge/accuracy
x = n
by = link
legend = outside
interval = band
size = double
labels = BT logistic|BT probit|ridge logistic|ridge probit
xlabel = comparisons
EOF
cp "$T/p.h5" "$T/q.h5"
$P run "$T/q.ini" -o "$T/q.h5" --quiet >/dev/null 2>"$T/q.err"
check "figure keys are stored without recomputing a cell" grep -q "already done, 0 run" "$T/q.err"
$P plot "$T/q.h5" -o "$T/r" --format png >/dev/null 2>"$T/r.err"
check "plot of the config's figures: exit 0" test $? -eq 0
check "gnuplot prints no warning" test ! -s "$T/r.err"
D=$T/r/q_styled.gp
check "[figure] legend, interval, size, labels, xlabel" sh -c "grep -q 'set key outside right' '$D' && grep -q filledcurves '$D' \
  && grep -q 'size_w = 17.8' '$D' && grep -qF '\"ridge probit\"' '$D' && grep -qF '\"comparisons\"' '$D'"
check "PNG files rendered" sh -c "file '$T/r/q_styled.png' '$T/r/q_err.png' | grep -c 'PNG image' | grep -qx 2"
$PY - "$T/r/q_styled.png" <<'PY' && ok "PNG is 17.8 cm wide at 200 dpi" || bad "PNG is 17.8 cm wide at 200 dpi"
import struct, sys
b = open(sys.argv[1], "rb").read(24)
w, h = struct.unpack(">II", b[16:24])
assert abs(w - 17.8 / 2.54 * 200) < 2 and abs(h - 8.0 / 2.54 * 200) < 2, (w, h)
PY
$P plot "$T/q.h5" -o "$T/s" --format png --metric bt/param_err --facet link --band >/dev/null 2>"$T/s.err"
check "a faceted figure renders without a warning" sh -c "test $? -eq 0 && test ! -s '$T/s.err' && test -s '$T/s/q_bt_param_err.png'"
$P plot "$T/q.h5" -o "$T/u" --format cairolatex --metric bt/param_err --ylabel '$\beta$' >/dev/null 2>"$T/u.err"
check "cairolatex renders" sh -c "test $? -eq 0 && test -s '$T/u/q_bt_param_err.tex' && grep -qF '\$\\beta\$' '$T/u/q_bt_param_err.tex'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
