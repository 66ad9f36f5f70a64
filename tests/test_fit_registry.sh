#!/usr/bin/env bash
# test_fit_registry.sh — `prefsim fit` reaches every estimator of the registry that fits
# item comparisons, with its hyperparameters checked by the estimator's own table.
#
# The model list comes from `prefsim fit --list` (the registry), so an estimator added
# to estimators/registry.c is tested here with no edit.  For each item model:
#   - it fits tests/data/small.csv (3 items, 6 rows, total weight 11): exit 0, a header
#     starting "item", one row per item A, B, C with finite numbers; # model NAME,
#     # items 3, # rows 6, # weight 11; a score column sums to 0 (centred, 1e-9), a
#     probability or policy column to 1 (1e-9); the same --seed gives the same bytes;
#   - `--model NAME --help` lists each of its hyperparameters;
#   - --param with an unknown key: exit 2, naming the key and the allowed ones;
#   - --param KEY=BAD for every key: exit 2 with the table's own allowed range or
#     choices (BAD: a word for numbers, an unknown choice, a non-boolean);
#   - --param FIRSTKEY=DEFAULT is accepted (exit 0).
# Then: the estimators for other data exit 2 saying what they fit; aliases (--l2, --k)
# give the same bytes as the --param they stand for; options of another model exit 2.
#
# Usage: PREFSIM=path/to/prefsim bash tests/test_fit_registry.sh   (default ./prefsim)
set -u
PREFSIM=${PREFSIM:-./prefsim}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SMALL=$HERE/data/small.csv
SMALL_TIES=$HERE/data/small_ties.csv
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-fit-registry-XXXXXX")
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

meta() { awk -F'\t' -v k="# $2" '$1 == k { print $2; exit }' "$1"; }
# the table of output $1 is sane: header "item...", rows A, B, C (in that order) with
# finite numbers, centred score, probability/policy summing to 1
sane_table() {
  awk -F'\t' '
    function abs(x) { return x < 0 ? -x : x }
    NR == 1 { if ($1 != "item") exit 1; for (i = 2; i <= NF; i++) col[i] = $i; nc = NF; next }
    /^$/ || /^#/ || /^annotator\t/ { done = 1 }
    done { next }
    {
      rows++; name[rows] = $1
      if (NF != nc) bad = 1
      for (i = 2; i <= NF; i++) {
        if ($i !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ && !(col[i] == "se" && $i == "NA")) bad = 1
        sum[col[i]] += $i
      }
    }
    END {
      if (bad || rows != 3 || name[1] != "A" || name[2] != "B" || name[3] != "C") exit 1
      if (("score" in sum) && abs(sum["score"]) > 1e-9) exit 1
      if (("probability" in sum) && abs(sum["probability"] - 1) > 1e-9) exit 1
      if (("policy" in sum) && abs(sum["policy"] - 1) > 1e-9) exit 1
    }' "$1"
}

"$PREFSIM" fit --list >"$TMP/list" 2>&1
check "--list: exit 0" test $? -eq 0
models=$(awk '/^estimators that fit item comparisons/ { f = 1; next } /^$/ { f = 0 } f { print $1 }' "$TMP/list")
others=$(awk '/^estimators for other data/ { f = 1; next } /^$/ { f = 0 } f { print $1 }' "$TMP/list")
check "--list: the item models include bt, mm, gpm, minimax, mixture, dpo" \
  bash -c "for m in bt mm gpm minimax mixture dpo; do grep -qx \"\$m\" <<<'$models' || exit 1; done"
check "--list: the segment models are listed apart" grep -qx regret_model <<<"$others"

for m in $models; do
  # the tie models' estimates need ties: the same rows with B,C a tie (tests/data/small_ties.csv)
  data=$SMALL
  case $m in davidson | raokupper) data=$SMALL_TIES ;; esac
  out=$TMP/$m.out
  "$PREFSIM" fit --model "$m" "$data" --seed 5 >"$out" 2>"$TMP/$m.err"
  rc=$?
  if [ $rc -ne 0 ]; then
    ko "$m: exit $rc on small.csv: $(head -c 300 "$TMP/$m.err")"
    continue
  fi
  check "$m: table (items A, B, C, finite, centred / summing to 1)" sane_table "$out"
  check "$m: # model, # items 3, # rows 6, # weight 11" \
    test "$(meta "$out" model)/$(meta "$out" items)/$(meta "$out" rows)/$(meta "$out" weight)" = "$m/3/6/11"
  "$PREFSIM" fit --model "$m" "$data" --seed 5 >"$TMP/$m.again" 2>/dev/null
  check "$m: the same seed gives the same output" cmp -s "$out" "$TMP/$m.again"

  # its help lists its hyperparameters; parse KEY, default, allowed from it
  "$PREFSIM" fit --model "$m" --help >"$TMP/$m.help" 2>&1
  check "$m: --help exit 0, names the model" bash -c "test $? -eq 0 && grep -q '^$m: ' '$TMP/$m.help'"
  awk '/^hyperparameters/ { f = 1; next } /^$/ { f = 0 } f && /^  [^ ]+ +default / {
         a = $0; sub(/^  [^ ]+ +default +[^ ]+ +/, "", a); print $1 "\t" $3 "\t" a }' "$TMP/$m.help" >"$TMP/$m.params"

  "$PREFSIM" fit --model "$m" --param no_such_key=1 "$data" >/dev/null 2>"$TMP/err"
  rc=$?
  first=$(head -1 "$TMP/$m.params" | cut -f1)
  check "$m: --param unknown key: exit 2, names it and the allowed keys" \
    bash -c "test $rc -eq 2 && grep -q 'no_such_key: unknown hyperparameter of --model $m; allowed: ${first:-none}' '$TMP/err'"

  nbad=0
  nkeys=0
  while IFS=$'\t' read -r key def allowed; do
    case $allowed in
    "an integer"* | "a real"*) badv=abc want="'abc' is not a finite number; allowed: $allowed" ;;
    "one of"*) badv=no_such_choice want="'no_such_choice' is not a known value; allowed: $allowed" ;;
    "true or false") badv=maybe want="'maybe' is not a boolean; allowed: true or false" ;;
    *) continue ;;
    esac
    nkeys=$((nkeys + 1))
    "$PREFSIM" fit --model "$m" --param "$key=$badv" "$data" >"$TMP/err.out" 2>"$TMP/err"
    rc=$?
    if [ $rc -ne 2 ] || ! grep -qF -- "--param $key=$badv: $want" "$TMP/err" || [ -s "$TMP/err.out" ]; then
      nbad=$((nbad + 1))
      echo "    $m $key=$badv: exit $rc, $(head -1 "$TMP/err")"
    fi
  done <"$TMP/$m.params"
  check "$m: a bad value of each of its $nkeys hyperparameters: exit 2 with the table's range or choices" test $nbad -eq 0

  if [ -n "$first" ]; then
    def=$(head -1 "$TMP/$m.params" | cut -f2)
    "$PREFSIM" fit --model "$m" --param "$first=$def" "$data" >/dev/null 2>&1
    check "$m: --param $first=$def (its default) accepted" test $? -eq 0
  fi
done

# ---------------------------------------------------- other data, aliases, options
code() { "$PREFSIM" fit "$@" >"$TMP/err.out" 2>"$TMP/err.txt"; echo $?; }
for m in $others; do
  check "$m: not an item model: exit 2, says what it fits" \
    bash -c "test \"\$('$PREFSIM' fit --model $m '$SMALL' 2>'$TMP/o.err' >/dev/null; echo \$?)\" = 2 &&
      grep -q 'not the item comparisons of a CSV file' '$TMP/o.err' && grep -Eq 'trajectory segments|feature vectors' '$TMP/o.err'"
  check "$m: --help still documents it" bash -c "'$PREFSIM' fit --model $m --help | grep -q 'cannot fit $m'"
done
check "unknown model: exit 2, lists the item models" \
  bash -c "test \"\$('$PREFSIM' fit --model nosuch '$SMALL' 2>&1 >/dev/null)\" = \"prefsim fit: unknown model 'nosuch' (allowed: $(tr '\n' ',' <<<"$models" | sed 's/,$//; s/,/, /g'))\""

"$PREFSIM" fit --model bt --l2 0.5 "$SMALL" >"$TMP/a1" 2>&1
"$PREFSIM" fit --model bt --param l2=0.5 "$SMALL" >"$TMP/a2" 2>&1
check "--l2 is --param l2 (bt): same output" cmp -s "$TMP/a1" "$TMP/a2"
"$PREFSIM" fit --model gpm --k 1 --tau 1 --seed 7 "$SMALL" >"$TMP/a1" 2>&1
"$PREFSIM" fit --model gpm --param k=1 --param tau=1 --seed 7 "$SMALL" >"$TMP/a2" 2>&1
check "--k, --tau are --param k, tau (gpm): same output" cmp -s "$TMP/a1" "$TMP/a2"
"$PREFSIM" fit --model lowrank --k 3 --param iterations=50 "$SMALL" >"$TMP/a1" 2>&1
check "--k is --param B for lowrank" test "$(meta "$TMP/a1" B)" = 3
check "a later setting wins" \
  bash -c "'$PREFSIM' fit --model mm --param alpha=1 --param alpha=0.25 '$SMALL' | grep -qx '# alpha	0.25'"
check "alias of a hyperparameter the model lacks: exit 2" \
  bash -c "test \$('$PREFSIM' fit --model mm --l2 1 '$SMALL' 2>'$TMP/e' >/dev/null; echo \$?) = 2 && grep -q \"^prefsim fit: --l2: --model mm has no hyperparameter 'l2'; allowed: alpha\" '$TMP/e'"
check "--reference with mm: exit 2" test "$(code --model mm --reference A "$SMALL")" = 2
check "--reference with mm: names the models that take it" grep -q -- "--reference applies to --model bt, pl, davidson, raokupper only, not mm" "$TMP/err.txt"
check "--annotators with a model without per-annotator estimates: exit 2" \
  test "$(code --model lsr --annotators "$TMP/x.tsv" "$SMALL")" = 2
check "an estimator's own check of its hyperparameters: exit 2 before reading DATA" \
  test "$(code --model hypo --param kl_estimator=rloo --param lambda=0 "$TMP/no_such.csv")" = 2
check "--param without KEY: exit 2" test "$(code --model mm --param =1 "$SMALL")" = 2
check "bt --param link=probit: fitted and recorded" \
  bash -c "'$PREFSIM' fit --model bt --param link=probit '$SMALL' | grep -qx '# link	probit'"
"$PREFSIM" fit --model minimax --param method=hedge --param T=5000 "$SMALL" >"$TMP/h.out" 2>&1
check "minimax method=hedge: exit 0, value NA, sane table" \
  bash -c "test $? -eq 0 && grep -qx '# value	NA' '$TMP/h.out' && $(declare -f sane_table); sane_table '$TMP/h.out'"

finish
